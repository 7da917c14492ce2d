import JGJSON

/// One JSON-RPC 2.0 message as the gateway sees it: what it is and the few fields it routes on. The
/// parsed value is kept for the messages the gateway governs; every other message is forwarded as the
/// exact bytes it arrived as (lossless pass-through: unknown fields, key order and number spelling are
/// the peers' business).
public struct JSONRPCMessage: Sendable {
    public enum Kind: Sendable, Equatable { case request, notification, response }
    public var kind: Kind
    public var method: String?
    /// The id as compact JSON text (`1`, `"a"`), the key requests and responses are matched on.
    public var idKey: String?
    public var value: JSONValue

    public struct Invalid: Error, Equatable, Sendable { public var reason: String }

    /// Parses one message; a batch (a JSON array) is refused: no protocol version the SDKs speak here sends one.
    public static func parse(_ bytes: some Collection<UInt8>) throws(Invalid) -> JSONRPCMessage {
        let v: JSONValue
        do { v = try JSONParser.parse(bytes) } catch { throw Invalid(reason: "not JSON: \(error.description)") }
        guard case .object = v else { throw Invalid(reason: "not a JSON-RPC object") }
        let method = v["method"]?.stringValue
        let id = v["id"]
        let idKey: String? = id.flatMap { i in
            switch i {
            case .string, .integer, .number: return JSONWriter.write(i)
            default: return nil
            }
        }
        if v["method"] != nil {
            guard let method else { throw Invalid(reason: "method is not a string") }
            return JSONRPCMessage(kind: idKey == nil ? .notification : .request, method: method, idKey: idKey, value: v)
        }
        guard idKey != nil || id == .null, v["result"] != nil || v["error"] != nil else {
            throw Invalid(reason: "neither a request nor a response")
        }
        return JSONRPCMessage(kind: .response, method: nil, idKey: idKey, value: v)
    }

    public var params: JSONValue? { value["params"] }

    /// A response to `id` (compact JSON text) carrying `result`.
    public static func result(idKey: String, _ result: JSONValue) -> [UInt8] {
        var out = Array("{\"jsonrpc\":\"2.0\",\"id\":".utf8)
        out += Array(idKey.utf8)
        out += Array(",\"result\":".utf8)
        JSONWriter.write(result, into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A JSON-RPC error response (for messages the gateway cannot parse or route, never for a policy denial).
    public static func error(idKey: String?, code: Int, message: String) -> [UInt8] {
        var out = Array("{\"jsonrpc\":\"2.0\",\"id\":".utf8)
        out += Array((idKey ?? "null").utf8)
        out += Array(",\"error\":{\"code\":\(code),\"message\":".utf8)
        JSONWriter.write(.string(message), into: &out)
        out += Array("}}".utf8)
        return out
    }

    /// `value` with its `id` replaced by `newIDKey` (HTTP clients share one upstream: ids are renumbered).
    public static func replacingID(_ value: JSONValue, with newID: JSONValue) -> JSONValue {
        guard case let .object(pairs) = value else { return value }
        return .object(pairs.map { $0.0 == "id" ? ("id", newID) : $0 })
    }
}
