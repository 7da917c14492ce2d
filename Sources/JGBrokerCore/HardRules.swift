import Glibc
import JGGateCore
import JGIPC
import JGJSON
import JGPolicy

/// The broker's own rules (step 17–18): it re-checks what it is asked to do and trusts no flag from upstream.
public enum HardRules {
    /// Paths no agent action may touch, whatever the policy says.
    static let protectedPrefixes = ["/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/passwd", "/root", "/boot",
                                    "/proc", "/sys", "/dev", "/var/lib/jinnguard", "/run/jinnguard"]
    /// Command fragments that destroy or take over the host.
    static let destructive = ["rm -rf /", "rm -fr /", "mkfs", "dd if=", "of=/dev/", ":(){", "shutdown", "reboot", "halt",
                              "poweroff", "chmod -r 777 /", "chmod 777 /", "> /dev/sd", "/etc/shadow", "init 0", "kill -9 1",
                              "nc -l", "ncat ", "/dev/tcp/"]
    /// Shell syntax that would let one allowed executable start another.
    static let shellMeta: [Character] = [";", "|", "&", "`", "$", "<", ">", "(", ")", "\n", "\\", "{", "}", "*", "?", "~"]

    /// Step 17: the program of a shell command must be on the agent's non-empty allowed_executables,
    /// and the command must not chain another program through shell syntax.
    public static func interpreterViolation(_ action: ProposedAction?, agent: AgentPolicy?) -> String? {
        guard let a = action, a.kind == "shell_command", let agent, !agent.allowedExecutables.isEmpty else { return nil }
        let cmd = a.command ?? ""
        guard let program = cmd.split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map(String.init) else {
            return "empty command"
        }
        let base = program.split(separator: "/").last.map(String.init) ?? program
        guard agent.allowedExecutables.contains(base) || agent.allowedExecutables.contains(program) else {
            return "executable \"\(base)\" not in allowed_executables"
        }
        if let c = cmd.first(where: { shellMeta.contains($0) }) {
            return "shell syntax '\(c)' would run more than \"\(base)\""
        }
        return nil
    }

    /// Step 18, with the workspace file actions are confined to and the destinations the agent may reach.
    public static func violation(_ action: ProposedAction?, workspace: String, allowedDestinations: [String] = [],
                                 writablePaths: [String] = []) -> String? {
        if let a = action, a.kind == "network_request" {
            guard let url = a.url else { return "missing url" }
            return URLRules.violation(url, allowed: allowedDestinations)
        }
        if let v = violation(action) { return v }
        if let a = action, a.kind == "file_write" || a.kind == "file_read", let p = a.path, p.hasPrefix("/"),
           !p.hasPrefix(workspace + "/") {
            // The agent's writable_paths take writes only; reads stay in the workspace.
            guard a.kind == "file_write", writablePaths.contains(where: { p.hasPrefix($0 + "/") }) else {
                return "path outside the agent workspace \(workspace)" + (writablePaths.isEmpty ? "" : " and its writable_paths")
            }
        }
        return nil
    }

    /// Step 18.
    public static func violation(_ action: ProposedAction?) -> String? {
        guard let a = action else { return nil }
        switch a.kind {
        case "shell_command":
            let cmd = (a.command ?? "").lowercased()
            if cmd.trimmingWhitespace().isEmpty { return "empty command" }
            if let d = destructive.first(where: { TextSearch.contains(cmd, $0) }) { return "destructive command (\"\(d)\")" }
            // Read again as the shell reads it: quotes removed, and options however they are split.
            let words = ShellWords.split(cmd)
            let plain = ShellWords.join(words)
            if let d = destructive.first(where: { TextSearch.contains(plain, $0) }) { return "destructive command (\"\(d)\")" }
            if let why = DestructiveCommands.violation(words) { return why }
            return nil
        case "file_write", "file_read":
            guard let p = a.path, !p.isEmpty else { return "missing path" }
            if p.utf8.contains(0) { return "NUL in path" }
            let norm = p.hasPrefix("/") ? p : "/" + p
            if let hit = protectedPrefixes.first(where: { norm == $0 || norm.hasPrefix($0 + "/") }), p.hasPrefix("/") {
                return "protected path \(hit)"
            }
            if p.split(separator: "/").contains("..") { return "path escapes the workspace (\"..\")" }
            if a.kind == "file_write", (a.contents ?? "").utf8.count > 16 * 1024 * 1024 { return "contents over 16 MiB" }
            return nil
        case "network_request":
            guard let url = a.url else { return "missing url" }
            return URLRules.violation(url)
        case _ where MCPActionKinds.all.contains(a.kind):
            // Decided here, performed by the MCP gateway (`jinnguard mcp`); the broker never runs them.
            return nil
        default:
            return "unknown action kind \"\(a.kind)\""
        }
    }
}

/// URL checks that need no network: scheme, and hosts that are loopback, link-local, private or metadata.
public enum URLRules {
    /// The parts of a URL the rules look at.
    public struct Target: Equatable {
        public var scheme: String
        public var host: String
        public var port: UInt16
        public var destination: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }
        public var plainDestination: String { "\(host):\(port)" }
    }

    /// Read byte by byte, as libcurl reads it: over Characters, a combining mark after `/` would make one
    /// grapheme of the two and hide the end of the authority (found by the fuzz target `url`). A host
    /// that is not ASCII (an IDN, which curl would convert to another spelling) is not parsed.
    public static func parse(_ url: String) -> Target? {
        var u = Array(url.utf8)
        for i in u.indices where u[i] >= 0x41 && u[i] <= 0x5A { u[i] += 0x20 }
        let slash = UInt8(ascii: "/"), colon = UInt8(ascii: ":")
        guard let sep = (0..<max(0, u.count - 2)).first(where: { u[$0] == colon && u[$0 + 1] == slash && u[$0 + 2] == slash }) else {
            return nil
        }
        let scheme = String(decoding: u[..<sep], as: UTF8.self)
        var end = sep + 3
        while end < u.count, u[end] != slash, u[end] != UInt8(ascii: "?"), u[end] != UInt8(ascii: "#") { end += 1 }
        let authority = u[(sep + 3)..<end]
        if authority.isEmpty || authority.contains(UInt8(ascii: "@")) || authority.contains(where: { $0 >= 0x80 }) { return nil }
        var host: ArraySlice<UInt8>
        var portText: ArraySlice<UInt8>?
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            host = authority[(authority.startIndex + 1)..<close]
            let after = authority[(close + 1)...]
            if after.first == colon { portText = after.dropFirst() } else if !after.isEmpty { return nil }
        } else if let c = authority.lastIndex(of: colon) {
            host = authority[..<c]
            portText = authority[(c + 1)...]
        } else {
            host = authority
        }
        if host.last == UInt8(ascii: ".") { host = host.dropLast() }
        let port: UInt16
        if let portText {
            guard let p = UInt16(String(decoding: portText, as: UTF8.self)), p > 0 else { return nil }
            port = p
        } else {
            port = scheme == "https" ? 443 : 80
        }
        guard !host.isEmpty else { return nil }
        return Target(scheme: scheme, host: String(decoding: host, as: UTF8.self), port: port)
    }

    /// With `allowed` destinations (`host:port`), those may be private and plain http.
    public static func violation(_ url: String, allowed: [String]) -> String? {
        guard let t = parse(url) else { return "unparsable URL" }
        if allowed.contains(t.plainDestination) || allowed.contains(t.destination) {
            return t.scheme == "https" || t.scheme == "http" ? nil : "scheme \(t.scheme) not allowed"
        }
        return violation(url)
    }

    public static func violation(_ url: String) -> String? {
        let lower = url.lowercased()
        guard lower.hasPrefix("https://") else { return "only https URLs are allowed" }
        if lower.utf8.dropFirst(8).prefix(while: { $0 != UInt8(ascii: "/") }).contains(UInt8(ascii: "@")) { return "credentials in URL" }
        guard let t = parse(url) else { return "unparsable URL" }
        let host = t.host
        if let why = ambiguousHost(host) { return why }
        if let why = nonPublic(host) { return why }
        return nil
    }

    /// Hosts that libcurl reads as another host than the one judged here (found by the fuzz target `url`,
    /// which compares with curl_url): `2130706433`, `0x7f.1`, `0177.0.0.1` are inet_aton's spellings of an
    /// IPv4 address that inet_pton (AddressClass) does not read — judged as names they would pass as
    /// public — and curl percent-decodes host names (`exa%6dple.com`). Only the dotted quad is an address.
    static func ambiguousHost(_ host: String) -> String? {
        if host.contains("%") { return "percent-encoded host name" }
        var a = in_addr()
        guard inet_aton(host, &a) != 0, AddressClass.parse(host) == nil else { return nil }
        return "IPv4 address not in dotted-quad form (\(host))"
    }

    /// Why a host name or literal address is not a public destination, or nil.
    public static func nonPublic(_ host: String) -> String? {
        if host == "localhost" || host.hasSuffix(".localhost") || host.hasSuffix(".internal") || host == "metadata.google.internal" {
            return "local or metadata host"
        }
        if let bytes = AddressClass.parse(host), let why = AddressClass.nonPublic(bytes) { return "\(why) address \(host)" }
        return nil
    }

    struct IPv4 {
        var o: [UInt8]
        init?(_ s: String) {
            let parts = s.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var o: [UInt8] = []
            for p in parts { guard let v = UInt8(p) else { return nil }; o.append(v) }
            self.o = o
        }
        var isNonPublic: Bool {
            o[0] == 0 || o[0] == 10 || o[0] == 127 || (o[0] == 169 && o[1] == 254) || (o[0] == 172 && (16...31).contains(o[1]))
                || (o[0] == 192 && o[1] == 168) || (o[0] == 100 && (64...127).contains(o[1])) || o[0] >= 224
        }
    }
}


/// Address classes by bytes (after inet_pton), so every spelling of an address is judged the same.
public enum AddressClass {
    /// 4 or 16 bytes for a literal IPv4 or IPv6 address, nil for a name.
    public static func parse(_ s: String) -> [UInt8]? {
        var a4 = in_addr()
        if inet_pton(AF_INET, s, &a4) == 1 { return withUnsafeBytes(of: &a4) { Array($0) } }
        var a6 = in6_addr()
        if inet_pton(AF_INET6, s, &a6) == 1 { return withUnsafeBytes(of: &a6) { Array($0) } }
        return nil
    }

    public static func nonPublic(_ b: [UInt8]) -> String? {
        if b.count == 4 {
            let (x, y) = (b[0], b[1])
            if x == 0 { return "unspecified" }
            if x == 127 { return "loopback" }
            if x == 10 || (x == 172 && (16...31).contains(y)) || (x == 192 && y == 168) { return "private" }
            if x == 169 && y == 254 { return "link-local (metadata)" }
            if x == 100 && (64...127).contains(y) { return "shared (CGNAT)" }
            if x >= 224 { return "multicast or reserved" }
            return nil
        }
        guard b.count == 16 else { return "malformed" }
        if b.allSatisfy({ $0 == 0 }) { return "unspecified" }
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return "loopback" }
        // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d): judge the IPv4 address inside.
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff {
            return nonPublic(Array(b[12..<16])).map { "IPv4-mapped \($0)" }
        }
        if b[0..<12].allSatisfy({ $0 == 0 }) { return nonPublic(Array(b[12..<16])).map { "IPv4-compatible \($0)" } ?? "IPv4-compatible" }
        if b[0] == 0xfe && (b[1] & 0xc0) == 0x80 { return "link-local" }
        if (b[0] & 0xfe) == 0xfc { return "unique-local" }
        if b[0] == 0xff { return "multicast" }
        if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b { return "NAT64" }
        return nil
    }
}
