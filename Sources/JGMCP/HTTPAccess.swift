import JGCrypto

/// Who may talk to the gateway's Streamable HTTP listener: a request with a foreign `Origin` (a web page
/// the user happens to have open: DNS rebinding, cross-site POSTs) or a `Host` that is not the loopback
/// address it listens on is refused 403; one without the bearer token 401. The MCP transport spec asks
/// servers on localhost for exactly the Origin check; the token keeps other local users out.
public struct HTTPAccess: Sendable {
    public var port: UInt16
    public var token: [UInt8]
    /// Extra origins allowed besides the listener's own (`--allow-origin`).
    public var allowedOrigins: Set<String>

    public init(port: UInt16, token: [UInt8], allowedOrigins: [String] = []) {
        self.port = port
        self.token = token
        self.allowedOrigins = Set(allowedOrigins.map { $0.lowercased() })
    }

    public enum Refusal: Equatable, Sendable { case forbidden(String), unauthorized }

    /// nil = admitted. Header names are matched case-insensitively by the caller (lower-cased).
    public func check(origin: String?, host: String?, authorization: String?) -> Refusal? {
        let own = ["127.0.0.1:\(port)", "localhost:\(port)", "[::1]:\(port)"]
        guard let host, own.contains(host.lowercased()) else { return .forbidden("Host not allowed") }
        if let origin {
            let o = origin.lowercased()
            guard own.contains(where: { o == "http://" + $0 }) || allowedOrigins.contains(o) else {
                return .forbidden("Origin not allowed")
            }
        }
        guard let auth = authorization else { return .unauthorized }
        let parts = auth.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return .unauthorized }
        let given = Array(parts[1].trimmingWhitespaceBytes())
        guard given.count == token.count, Digest.constantTimeEqual(given, token) else { return .unauthorized }
        return nil
    }
}

extension Substring {
    func trimmingWhitespaceBytes() -> [UInt8] {
        var b = Array(utf8)
        while let l = b.last, l == 0x20 || l == 0x09 || l == 0x0D || l == 0x0A { b.removeLast() }
        while let f = b.first, f == 0x20 || f == 0x09 { b.removeFirst() }
        return b
    }
}
