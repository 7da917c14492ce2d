import CCurl
import CJGSys
import Glibc
import JGIPC
import JGJSON
import JGPolicy

/// network_request, performed with libcurl. The host is resolved once here; every address must be public
/// unless the destination is on the agent's allowed list; curl is then pinned to the checked address
/// (CURLOPT_RESOLVE), so a second DNS answer cannot redirect it.
public struct NetworkFetcher {
    public var timeout = ToolLimits.networkFetchSeconds
    public var maxBytes = 1 << 20

    public init() {}

    /// Runs `fetch` in a forked worker watched from the loop, so that name resolution and the transfer
    /// never block the broker; the worker is killed at `killAt`. The result comes back as one JSON line.
    public func start(url: String, method: String?, allowed: [String], constraints: Constraints?, loop: EventLoop,
                      killAt: Double, replyBudget: Int, onDone: @escaping (ToolRunner.Result) -> Void) -> ToolRunner.Launch {
        var fds: [Int32] = [-1, -1]
        guard jg_sys_pipe_cloexec(&fds) == 0 else { return .done(failure("pipe: \(String(cString: strerror(errno)))")) }
        let r = OwnedFD(adopting: fds[0]), w = OwnedFD(adopting: fds[1])
        var me = self
        // The worker gets what is left before the kill, less a little to write its answer.
        me.timeout = max(0.1, min(timeout, killAt - Monotonic.now - 0.2))
        let pid = jg_sys_fork_worker(w.raw)
        if pid == 0 {
            let result = me.fetch(url: url, method: method, allowed: allowed, constraints: constraints)
            let line = Array((JSONWriter.write(result.json) + "\n").utf8)
            var off = 0
            while off < line.count {
                let n = line.withUnsafeBytes { Glibc.write(3, $0.baseAddress! + off, line.count - off) }
                if n <= 0 { break }
                off += n
            }
            jg_sys_exit_now(0)
        }
        w.close()
        guard pid > 0 else { return .done(failure("fork: \(String(cString: strerror(errno)))")) }
        // Escaped, the body can be six times its size; anything longer is not an answer of the worker.
        let cap = maxBytes * 6 + 65536
        let watch = ChildWatch(loop: loop, pid: pid, pipes: [r], caps: [cap], killAt: killAt,
                               killReason: "network request killed: no answer before the reply deadline or time limit",
                               kill: { _ = Glibc.kill(pid, SIGKILL) }, onExit: { exit in
            onDone(Self.workerResult(exit, replyBudget: replyBudget))
        })
        return .running(watch)
    }

    static func workerResult(_ exit: ChildWatch.Exit, replyBudget: Int) -> ToolRunner.Result {
        let bad = { (why: String) in
            ToolRunner.Result(json: .object([("error", .string(why)), ("executed", .bool(false))]), executed: false)
        }
        if let k = exit.killed { return bad(k) }
        var line = exit.captures.first?.bytes ?? []
        if line.last == UInt8(ascii: "\n") { line.removeLast() }
        guard let c = exit.captures.first, !c.truncated, let v = try? JSONParser.parse(line),
              case let .object(pairs) = v else {
            return bad("network request failed: the worker gave no result")
        }
        var out = pairs
        if let i = out.firstIndex(where: { $0.0 == "body" }), case let .string(body) = out[i].1 {
            let (fitted, cut) = OutputBudget.fit(body, escapedLimit: replyBudget)
            out[i].1 = .string(fitted)
            if cut, let t = out.firstIndex(where: { $0.0 == "truncated" }) { out[t].1 = .bool(true) }
        }
        return ToolRunner.Result(json: .object(out), executed: v["executed"] == .bool(true))
    }

    public func fetch(url: String, method: String?, allowed: [String], constraints: Constraints?) -> ToolRunner.Result {
        guard let t = URLRules.parse(url) else { return failure("unparsable URL") }
        let isAllowed = allowed.contains(t.plainDestination) || allowed.contains(t.destination)
        if let c = constraints, !(c.allowedNetworkDestinations.contains(t.plainDestination) || c.allowedNetworkDestinations.contains(t.destination)) {
            return failure("CONSTRAIN: \(t.plainDestination) is not among the allowed network destinations")
        }
        guard t.scheme == "https" || (t.scheme == "http" && isAllowed) else { return failure("scheme \(t.scheme) not allowed for \(t.plainDestination)") }
        let m = (method ?? "GET").uppercased()
        guard ["GET", "HEAD"].contains(m) else { return failure("method \(m) not allowed") }
        let addresses: [String]
        switch resolve(t.host, t.port) {
        case let .failure(why): return failure(why)
        case let .success(a): addresses = a
        }
        if !isAllowed {
            for a in addresses {
                if let b = AddressClass.parse(a), let why = AddressClass.nonPublic(b) {
                    return failure("\(t.host) resolves to a \(why) address (\(a))")
                }
            }
        }
        guard let first = addresses.first else { return failure("\(t.host) has no address") }
        let pin = "\(t.host):\(t.port):\(first.contains(":") ? "[\(first)]" : first)"
        var r = jg_curl_result()
        let rc = jg_curl_request(url, m, pin, Int(timeout * 1000), maxBytes, t.scheme == "http" ? 1 : 0, &r)
        defer { jg_curl_free(&r) }
        guard rc == 0 else {
            let err = withUnsafeBytes(of: r.error) { p in String(cString: p.bindMemory(to: CChar.self).baseAddress!) }
            return failure("request failed: \(err)")
        }
        var body = r.body_len > 0 ? String(decoding: UnsafeBufferPointer(start: r.body, count: r.body_len), as: UTF8.self) : ""
        var truncated = r.truncated != 0
        if let c = constraints {
            if c.redactOutput { body = Redactor.redact(body) }
            if body.utf8.count > c.outputByteLimit {
                body = String(decoding: Array(body.utf8.prefix(c.outputByteLimit)), as: UTF8.self)
                truncated = true
            }
        }
        return ToolRunner.Result(json: .object([
            ("address", .string(first)), ("body", .string(body)), ("executed", .bool(true)),
            ("status", .integer(.signed(Int64(r.status)))), ("truncated", .bool(truncated)),
        ]), executed: true)
    }

    func failure(_ msg: String) -> ToolRunner.Result {
        ToolRunner.Result(json: .object([("error", .string(msg)), ("executed", .bool(false))]), executed: false)
    }

    enum Resolution { case success([String]), failure(String) }

    func resolve(_ host: String, _ port: UInt16) -> Resolution {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &res)
        guard rc == 0, let first = res else { return .failure("cannot resolve \(host): \(String(cString: gai_strerror(rc)))") }
        defer { freeaddrinfo(res) }
        var out: [String] = []
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let a = p {
            var buf = [CChar](repeating: 0, count: 64)
            if getnameinfo(a.pointee.ai_addr, a.pointee.ai_addrlen, &buf, socklen_t(buf.count), nil, 0, NI_NUMERICHOST) == 0 {
                let s = CText.string(buf)
                if !out.contains(s) { out.append(s) }
            }
            p = a.pointee.ai_next
        }
        return .success(out)
    }
}
