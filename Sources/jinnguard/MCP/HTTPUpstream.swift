import Foundation
import Glibc
import JGIPC
import JGJSON
import JGMCP

/// An upstream MCP server reached by Streamable HTTP (`--upstream-url http://127.0.0.1:PORT/mcp`): each
/// message is one POST; what the server answers (JSON, or an SSE stream of messages) goes back to the
/// session. The routing headers the transport asks for (MCP-Protocol-Version, Mcp-Method, Mcp-Name) are
/// derived from the message itself, so any client side works.
/// `@unchecked`: `sessionID`/`negotiatedVersion` only under `lock`; `session` is set before any thread starts.
final class HTTPUpstream: MCPPeer, @unchecked Sendable {
    struct Target { var host: String; var port: UInt16; var path: String }
    let target: Target
    weak var session: GatewaySession?
    private let lock = NSLock()
    private var sessionID: String?
    private var negotiatedVersion: String?
    private let posts = DispatchQueue(label: "jinnguard.mcp.upstream-http", attributes: .concurrent)

    init(target: Target) { self.target = target }

    static func parse(url: String) -> Target? {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst(7)
        let hostPort = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(hostPort.count)
        let parts = hostPort.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else { return nil }
        return Target(host: String(parts[0]), port: port, path: path.isEmpty ? "/" : String(path))
    }

    func deliver(_ message: [UInt8], inReplyTo idKey: String?) {
        posts.async { [self] in post(message) }
    }

    private func post(_ message: [UInt8]) {
        let m = try? JSONRPCMessage.parse(message)
        var headers = [("Host", "\(target.host):\(target.port)"), ("Content-Type", "application/json"),
                       ("Accept", "application/json, text/event-stream"), ("Content-Length", String(message.count))]
        lock.lock()
        let sid = sessionID, negotiated = negotiatedVersion
        lock.unlock()
        if let sid { headers.append(("Mcp-Session-Id", sid)) }
        if let v = m?.params?["_meta"]?["io.modelcontextprotocol/protocolVersion"]?.stringValue ?? negotiated {
            headers.append(("MCP-Protocol-Version", v))
        }
        if let method = m?.method {
            headers.append(("Mcp-Method", method))
            let nameKey = ["tools/call": "name", "prompts/get": "name", "resources/read": "uri"][method]
            if let k = nameKey, let n = m?.params?[k]?.stringValue { headers.append(("Mcp-Name", n)) }
        }
        guard let fd = TCP.connect(host: target.host, port: target.port) else {
            failed(m, "upstream \(target.host):\(target.port) unreachable")
            return
        }
        var req = Array("POST \(target.path) HTTP/1.1\r\n".utf8)
        for (k, v) in headers { req += Array("\(k): \(v)\r\n".utf8) }
        req += Array("Connection: close\r\n\r\n".utf8)
        req += message
        guard (try? fd.writeAll(req)) != nil else { failed(m, "upstream write failed"); return }
        let r = HTTPReader(fd: fd)
        guard let head = r.head() else { failed(m, "upstream sent no HTTP response"); return }
        if let s = head["mcp-session-id"] { lock.lock(); sessionID = s; lock.unlock() }
        let status = head.startLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        if status == 202 || (m?.kind != .request && status / 100 == 2) { return }
        guard status / 100 == 2 else { failed(m, "upstream answered HTTP \(status)"); return }
        if head["content-type"]?.lowercased().hasPrefix("text/event-stream") == true {
            var sse = SSEParser()
            let handler: ([UInt8]) -> Bool = { [weak self] chunk in
                sse.feed(chunk) { ev in self?.received(ev) }
                return true
            }
            if head["transfer-encoding"] != nil || head["content-length"] != nil { _ = r.body(head, chunkHandler: handler) } else { r.rest(chunkHandler: handler) }
        } else if let body = r.body(head), !body.isEmpty {
            received(body)
        }
    }

    private func received(_ message: [UInt8]) {
        // The handshake era's negotiated version, sent as a header on every later POST.
        if let m = try? JSONRPCMessage.parse(message), m.kind == .response,
           let v = m.value["result"]?["protocolVersion"]?.stringValue {
            lock.lock(); negotiatedVersion = v; lock.unlock()
        }
        session?.fromUpstream(message)
    }

    private func failed(_ m: JSONRPCMessage?, _ why: String) {
        Log.error(why)
        guard let m, m.kind == .request, let id = m.idKey else { return }
        session?.fromUpstream(JSONRPCMessage.error(idKey: id, code: -32603, message: why))
    }
}
