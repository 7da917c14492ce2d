import Foundation
import CJGSys
import Glibc
import JGIPC
import JGJSON
import JGMCP

/// The gateway's Streamable HTTP side (`--listen 127.0.0.1:PORT`), for MCP clients that speak HTTP.
/// POST /mcp carries one JSON-RPC message: a notification or a response is accepted (202); a request
/// is answered on a Server-Sent Events stream that carries its progress and ends with its response, so a
/// call kept open (a hold waiting for a human) stays one request. GET (a standalone server stream) is
/// not offered (405), which the transport allows. Every request passes HTTPAccess first (Host, Origin,
/// bearer token). All HTTP clients share the one upstream: request ids are renumbered on the way up and
/// restored on the way down, so two clients' ids never collide.
/// `@unchecked`: one thread per HTTP connection; the stream table and the id counter are touched under `lock`, and
/// `session` is set before `serve()` starts accepting.
final class StreamableHTTPListener: MCPPeer, @unchecked Sendable {
    final class Stream {
        let fd: OwnedFD
        let originalID: JSONValue
        var done = false
        let cond = NSCondition()
        init(fd: OwnedFD, originalID: JSONValue) { self.fd = fd; self.originalID = originalID }
    }

    let listener: OwnedFD
    let access: HTTPAccess
    let path: String
    weak var session: GatewaySession?
    private let lock = NSLock()
    private var streams: [String: Stream] = [:]
    private var nextID: UInt64 = 0

    init(listener: OwnedFD, access: HTTPAccess, path: String = "/mcp") {
        self.listener = listener
        self.access = access
        self.path = path
    }

    /// Connections served at once; more are closed at accept (a local peer cannot pile up threads).
    static let maxConnections = 128
    private var open = 0

    func serve() -> Never {
        while true {
            var p = pollfd(fd: listener.raw, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, -1)
            let c = jg_sys_accept_nonblocking(listener.raw)
            if c < 0 { continue }
            let fd = OwnedFD(adopting: c)
            lock.lock()
            let admitted = open < Self.maxConnections
            if admitted { open += 1 }
            lock.unlock()
            guard admitted else { continue }
            // Each connection has a thread of its own and blocks in it; a silent one is closed after 30 s.
            try? fd.setNonBlocking(false)
            var one: Int32 = 1
            setsockopt(c, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            var tv = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let t = Thread { [self] in
                connection(fd)
                lock.lock(); open -= 1; lock.unlock()
            }
            t.start()
        }
    }

    private func connection(_ fd: OwnedFD) {
        let r = HTTPReader(fd: fd)
        while let head = r.head() {
            let parts = head.startLine.split(separator: " ")
            guard parts.count == 3 else { respond(fd, 400, "bad request line"); return }
            let method = parts[0], target = parts[1].split(separator: "?").first.map(String.init) ?? ""
            if let refusal = access.check(origin: head["origin"], host: head["host"], authorization: head["authorization"]) {
                switch refusal {
                case let .forbidden(why): respond(fd, 403, why)
                case .unauthorized: respond(fd, 401, "bearer token required", extra: [("WWW-Authenticate", "Bearer")])
                }
                _ = r.body(head)
                continue
            }
            guard target == path else { _ = r.body(head); respond(fd, 404, "not found"); continue }
            switch method {
            case "POST":
                guard let body = r.body(head) else { respond(fd, 400, "bad body"); return }
                if !post(fd, body) { return }
            case "DELETE":
                respond(fd, 405, "sessions are not kept", extra: [("Allow", "POST")])
            default:
                _ = r.body(head)
                respond(fd, 405, "POST only", extra: [("Allow", "POST")])
            }
        }
    }

    /// false = the connection is finished (an SSE stream was sent, or the client went away).
    private func post(_ fd: OwnedFD, _ body: [UInt8]) -> Bool {
        guard let m = try? JSONRPCMessage.parse(body) else {
            let e = JSONRPCMessage.error(idKey: nil, code: -32700, message: "Jinn Guard gateway: not a JSON-RPC message")
            respond(fd, 400, String(decoding: e, as: UTF8.self), type: "application/json")
            return true
        }
        guard m.kind == .request, let originalID = m.value["id"] else {
            var up = body
            if m.kind == .notification, m.method == "notifications/cancelled", let rid = m.params?["requestId"] {
                // The client names its own id; the upstream knows ours.
                lock.lock()
                let gw = streams.first(where: { $0.value.originalID == rid && !$0.value.done })?.key
                lock.unlock()
                if let gw, case var .object(params)? = m.params {
                    params = params.map { $0.0 == "requestId" ? ("requestId", .string(gw)) : $0 }
                    up = JSONWriter.bytes(.object(m.value.objectPairs.map { $0.0 == "params" ? ("params", .object(params)) : $0 }))
                }
            }
            session?.fromClient(up)
            respond(fd, 202, "")
            return true
        }
        lock.lock()
        nextID += 1
        let gw = "jg-http-\(nextID)"
        let s = Stream(fd: fd, originalID: originalID)
        streams[gw] = s
        lock.unlock()
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        guard (try? fd.writeAll(Array(head.utf8))) != nil else { drop(gw); return false }
        session?.fromClient(JSONWriter.bytes(JSONRPCMessage.replacingID(m.value, with: .string(gw))))
        // Wait for the response; a client that hangs up meanwhile cancels the call.
        s.cond.lock()
        while !s.done {
            s.cond.unlock()
            var p = pollfd(fd: fd.raw, events: Int16(Int32(POLLIN) | pollRDHUP), revents: 0)
            let n = poll(&p, 1, 200)
            s.cond.lock()
            if s.done { break }
            if n > 0 && (p.revents & Int16(pollRDHUP | Int32(POLLHUP) | Int32(POLLERR))) != 0 {
                s.done = true
                s.cond.unlock()
                drop(gw)
                let cancel = JSONWriter.bytes(.object([("jsonrpc", .string("2.0")), ("method", .string("notifications/cancelled")),
                                                       ("params", .object([("requestId", .string(gw)), ("reason", .string("client closed the HTTP stream"))]))]))
                session?.fromClient(cancel)
                return false
            }
        }
        s.cond.unlock()
        return false
    }

    private func drop(_ gw: String) { lock.lock(); streams[gw] = nil; lock.unlock() }

    /// From the session: a response or notification for one of our streams.
    func deliver(_ message: [UInt8], inReplyTo idKey: String?) {
        var key = idKey.flatMap { k -> String? in
            guard let v = try? JSONParser.parse(k), case let .string(s) = v else { return nil }
            return s
        }
        lock.lock()
        if key == nil { key = streams.first(where: { !$0.value.done })?.key }
        let s = key.flatMap { streams[$0] }
        lock.unlock()
        guard let key, let s else {
            Log.info("message for no open HTTP stream dropped")
            return
        }
        var out = message
        var final = false
        if let m = try? JSONRPCMessage.parse(message), m.kind == .response, m.idKey == JSONWriter.write(.string(key)) {
            out = JSONWriter.bytes(JSONRPCMessage.replacingID(m.value, with: s.originalID))
            final = true
        }
        var event = Array("event: message\ndata: ".utf8) + out + Array("\n\n".utf8)
        var chunk = Array(String(event.count, radix: 16).utf8) + [0x0D, 0x0A]
        chunk += event
        chunk += [0x0D, 0x0A]
        if final { chunk += Array("0\r\n\r\n".utf8) }
        event.removeAll()
        s.cond.lock()
        if !s.done {
            _ = try? s.fd.writeAll(chunk)
            if final {
                s.done = true
                s.cond.signal()
            }
        }
        s.cond.unlock()
        if final { drop(key) }
    }

    private func respond(_ fd: OwnedFD, _ status: Int, _ text: String, type: String = "text/plain", extra: [(String, String)] = []) {
        let reason = [202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"][status] ?? "OK"
        let body = Array(text.utf8)
        var h = "HTTP/1.1 \(status) \(reason)\r\nContent-Length: \(body.count)\r\n"
        if !body.isEmpty { h += "Content-Type: \(type)\r\n" }
        for (k, v) in extra { h += "\(k): \(v)\r\n" }
        h += "\r\n"
        _ = try? fd.writeAll(Array(h.utf8) + body)
    }
}

/// Linux's POLLRDHUP (the Glibc module leaves out the GNU poll bits).
let pollRDHUP: Int32 = 0x2000

extension JSONValue {
    var objectPairs: [(String, JSONValue)] {
        if case let .object(p) = self { return p }
        return []
    }
}
