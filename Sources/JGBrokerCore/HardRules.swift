import JGIPC
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

    /// Step 18, with the workspace file actions are confined to.
    public static func violation(_ action: ProposedAction?, workspace: String) -> String? {
        if let v = violation(action) { return v }
        if let a = action, a.kind == "file_write" || a.kind == "file_read", let p = a.path, p.hasPrefix("/"),
           !p.hasPrefix(workspace + "/") {
            return "path outside the agent workspace \(workspace)"
        }
        return nil
    }

    /// Step 18.
    public static func violation(_ action: ProposedAction?) -> String? {
        guard let a = action else { return nil }
        switch a.kind {
        case "shell_command":
            let cmd = (a.command ?? "").lowercased()
            if cmd.trimmingCharacters() .isEmpty { return "empty command" }
            if let d = destructive.first(where: { cmd.contains($0) }) { return "destructive command (\"\(d)\")" }
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
        default:
            return "unknown action kind \"\(a.kind)\""
        }
    }
}

/// URL checks that need no network: scheme, and hosts that are loopback, link-local, private or metadata.
public enum URLRules {
    public static func violation(_ url: String) -> String? {
        let lower = url.lowercased()
        guard lower.hasPrefix("https://") else { return "only https URLs are allowed" }
        let rest = lower.dropFirst("https://".count)
        let authority = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        if authority.contains("@") { return "credentials in URL" }
        var host = authority
        if host.hasPrefix("[") { host = String(host.dropFirst().prefix { $0 != "]" }) }
        else if let c = host.lastIndex(of: ":") { host = String(host[..<c]) }
        if host.isEmpty { return "no host" }
        if host == "localhost" || host.hasSuffix(".localhost") || host.hasSuffix(".internal") || host == "metadata.google.internal" {
            return "local or metadata host"
        }
        if let v4 = IPv4(host), v4.isNonPublic { return "non-public address \(host)" }
        if host.contains(":") {
            // IPv6 literal: loopback, link-local, unique-local, unspecified and IPv4-mapped non-public addresses.
            if host == "::1" || host == "::" || host.hasPrefix("fe8") || host.hasPrefix("fe9") || host.hasPrefix("fea") || host.hasPrefix("feb")
                || host.hasPrefix("fc") || host.hasPrefix("fd") { return "non-public address \(host)" }
            if host.hasPrefix("::ffff:"), let v4 = IPv4(String(host.dropFirst(7))), v4.isNonPublic { return "non-public IPv4-mapped address \(host)" }
            if host.hasPrefix("::ffff:") { return "IPv4-mapped address \(host)" }
        }
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

extension String {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
