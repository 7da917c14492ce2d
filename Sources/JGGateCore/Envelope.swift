import JGJSON

/// The frame body (PROTOCOL.md §3): `{"payload":"<proposal JSON text>","signature":"<hex>"}`.
public struct Envelope: Sendable {
    public var payload: String
    public var signature: String

    public enum Failure: Error, Equatable { case encoding, malformed(String) }

    public static func parse(_ body: [UInt8]) throws(Failure) -> Envelope {
        // ASCII is valid UTF-8: only other bodies pay for a full validation.
        guard isASCII(body) || String(validating: body, as: UTF8.self) != nil else { throw .encoding }
        let v: JSONValue
        do { v = try JSONParser.parse(body) } catch { throw .malformed(error.description) }
        guard case .object = v else { throw .malformed("envelope is not an object") }
        guard case let .string(p)? = v["payload"] else { throw .malformed("payload missing or not a string") }
        guard case let .string(s)? = v["signature"] else { throw .malformed("signature missing or not a string") }
        return Envelope(payload: p, signature: s)
    }

    static func isASCII(_ body: [UInt8]) -> Bool {
        var or: UInt8 = 0
        for b in body { or |= b }
        return or < 0x80
    }
}
