import CJGSys
import CoreMetrics
import Glibc
import JGIPC
import JGJSON
import Metrics
import Prometheus

/// `JINNGUARD_METRICS_PORT`: GET /metrics (Prometheus text) and GET /healthz on 127.0.0.1 only.
/// Why a hand-written responder: two fixed GET routes inside the supervisor's poll loop; an HTTP server
/// library would add an event loop and minutes of build for that.
final class MetricsServer {
    let registry = PrometheusCollectorRegistry()
    let listener: OwnedFD
    unowned let loop: EventLoop
    let health: () -> (Bool, String)
    var conns: [Int32: (StreamConnection, Double)] = [:]
    var last: [String: UInt64] = [:]
    let proposals: Metrics.Counter

    /// Per-component details for /healthz (kernel planes with active/inactive and the reason).
    var details: () -> JSONValue = { .object([]) }
    /// Asks the gate for its counters now with this nonce; false when no gate can answer. A scrape waits
    /// for the report that echoes it (at most `refreshLimit`), so it counts every decision whose reply was
    /// sent before it, and an older report still in flight does not answer it.
    var refresh: (UInt64) -> Bool = { _ in false }
    static let refreshLimit = 1.0
    /// Scrapes waiting for the gate's fresh counters, with the nonce each waits for.
    var waitingScrapes: [(fd: Int32, nonce: UInt64)] = []
    var nextNonce: UInt64 = 1

    init(port: UInt16, loop: EventLoop, health: @escaping () -> (Bool, String)) throws(SystemError) {
        self.loop = loop
        self.health = health
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        proposals = Metrics.Counter(label: "jinnguard_proposals_total")
        for v in ["allow", "constrain", "deny"] { Metrics.Counter(label: "jinnguard_decisions_total", dimensions: [("verdict", v)]).increment(by: 0) }
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw SystemError("socket") }
        listener = OwnedFD(adopting: s)
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard r == 0 else { throw SystemError("bind 127.0.0.1:\(port)") }
        guard listen(s, 64) == 0 else { throw SystemError("listen") }
        try listener.setNonBlocking()
        loop.register(s, events: Int16(POLLIN)) { [unowned self] _ in self.accept() }
    }

    /// The gate reports absolute counters; the metrics library takes increments.
    func update(gateStatus v: JSONValue) {
        func bump(_ key: String, _ value: JSONValue?, _ counter: () -> Metrics.Counter) {
            guard case let .integer(i)? = value, let n = i.uint64 else { return }
            let prev = last[key] ?? 0
            // A restarted gate starts from zero again: count what it has seen since.
            let delta = n >= prev ? n - prev : n
            last[key] = n
            if delta > 0 { counter().increment(by: Int64(delta)) }
        }
        // Scrapes waiting for this report (or an earlier nonce) are answered once the counters are in.
        var echoed: UInt64?
        if case let .integer(i)? = v["stats_nonce"] { echoed = i.uint64 }
        defer { if let echoed { answerWaitingScrapes(upTo: echoed) } }
        bump("proposals", v["proposals"]) { proposals }
        for verdict in ["allow", "constrain", "deny"] {
            bump(verdict, v[verdict]) { Metrics.Counter(label: "jinnguard_decisions_total", dimensions: [("verdict", verdict)]) }
        }
        if case let .object(d)? = v["denials"] {
            for (token, value) in d {
                bump("denial:" + token, value) { Metrics.Counter(label: "jinnguard_denials_total", dimensions: [("reason", token)]) }
            }
        }
    }

    func accept() {
        while true {
            let fd = jg_sys_accept_nonblocking(listener.raw)
            if fd < 0 { return }
            let owned = OwnedFD(adopting: fd)
            guard conns.count < 64, let c = try? StreamConnection(fd: owned) else { continue }
            conns[fd] = (c, Monotonic.now + 5)
            loop.register(fd, events: Int16(POLLIN)) { [unowned self] _ in self.readable(fd) }
            loop.after(5) { [weak self] in self?.drop(fd) }
        }
    }

    func drop(_ fd: Int32) {
        waitingScrapes.removeAll { $0.fd == fd }
        guard let (c, _) = conns.removeValue(forKey: fd) else { return }
        loop.unregister(fd)
        c.fd.close()
    }

    func readable(_ fd: Int32) {
        guard let (c, _) = conns[fd] else { return }
        switch c.readAvailable(limit: 8192) {
        case .data: break
        case .wouldBlock: return
        default: drop(fd); return
        }
        guard let all = c.peek(c.bufferedCount) else { return }
        let text = String(decoding: all, as: UTF8.self)
        guard text.contains("\r\n\r\n") || text.contains("\n\n") else {
            if c.bufferedCount >= 8192 { respond(c, fd, 400, "bad request\n", "text/plain") }
            return
        }
        let first = text.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
        let parts = first.split(separator: " ")
        guard parts.count >= 2, parts[0] == "GET" else { respond(c, fd, 405, "only GET\n", "text/plain"); return }
        switch parts[1] {
        case "/metrics":
            loop.setEvents(fd, 0)
            if waitingScrapes.contains(where: { $0.fd == fd }) { return }
            let nonce = nextNonce
            nextNonce += 1
            if refresh(nonce) {
                waitingScrapes.append((fd, nonce))
                loop.after(Self.refreshLimit) { [weak self] in self?.answerWaitingScrapes(only: fd) }
            } else {
                respond(c, fd, 200, registry.emitToString(), "text/plain; version=0.0.4")
            }
        case "/healthz":
            let (ok, why) = health()
            let body = JSONWriter.write(.object([("status", .string(ok ? "ok" : "unavailable")), ("reason", .string(why)),
                                                 ("details", details())])) + "\n"
            respond(c, fd, ok ? 200 : 503, body, "application/json")
        default:
            respond(c, fd, 404, "not found\n", "text/plain")
        }
    }

    /// The gate answered (or did not in time): waiting scrapes get the counters as they now stand.
    func answerWaitingScrapes(only: Int32? = nil, upTo: UInt64 = .max) {
        let fds = waitingScrapes.filter { ($0.fd == only || only == nil) && $0.nonce <= upTo }.map(\.fd)
        waitingScrapes.removeAll { fds.contains($0.fd) }
        guard !fds.isEmpty else { return }
        let text = registry.emitToString()
        for fd in fds {
            guard let (c, _) = conns[fd] else { continue }
            respond(c, fd, 200, text, "text/plain; version=0.0.4")
        }
    }

    func respond(_ c: StreamConnection, _ fd: Int32, _ code: Int, _ body: String, _ type: String) {
        let reason = [200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"][code] ?? "Error"
        let b = Array(body.utf8)
        let head = "HTTP/1.1 \(code) \(reason)\r\nContent-Type: \(type)\r\nContent-Length: \(b.count)\r\nConnection: close\r\n\r\n"
        c.send(Array(head.utf8) + b)
        // Small replies go out in one send; close after it.
        drop(fd)
    }
}
