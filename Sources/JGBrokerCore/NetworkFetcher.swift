import CCurl
import Glibc
import JGIPC
import JGJSON

/// network_request, performed with libcurl. The host is resolved once here; every address must be public
/// unless the destination is on the agent's allowed list; curl is then pinned to the checked address
/// (CURLOPT_RESOLVE), so a second DNS answer cannot redirect it.
public struct NetworkFetcher {
    public var timeout = 10.0
    public var maxBytes = 1 << 20

    public init() {}

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
                let s = String(cString: buf)
                if !out.contains(s) { out.append(s) }
            }
            p = a.pointee.ai_next
        }
        return .success(out)
    }
}
