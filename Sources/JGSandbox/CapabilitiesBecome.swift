import CCap
import Glibc
import JGIPC

extension Capabilities {
    /// Becomes `identity` keeping exactly `caps` (none for the gate and the prover), then checks the
    /// result: the ids are the identity's everywhere (real, effective, saved) and, without CAP_SETUID,
    /// root cannot be regained.
    public static func become(_ identity: ComponentIdentity, keeping caps: [Int32]) throws(SystemError) {
        if SystemdComponent.active {
            // systemd already made us `identity` (User=, SupplementaryGroups=) with the unit's bounding and
            // ambient sets; what is left is to hold exactly `caps` — permitted, effective, no inheritable,
            // no ambient (what a tool or helper we exec could inherit) — and check the ids.
            // Already exact (the gate: no capability at all) needs no capset, which its unit's filter refuses.
            if !holdsExactly(caps) {
                let r = caps.withUnsafeBufferPointer { jg_cap_set($0.baseAddress, Int32($0.count)) }
                guard r == 0 else { throw SystemError("keep capabilities \(caps) of the unit") }
            }
            try check(identity, caps)
            return
        }
        let r = caps.withUnsafeBufferPointer { c in
            identity.groups.withUnsafeBufferPointer { g in
                jg_cap_become(c.baseAddress, Int32(c.count), identity.uid, identity.gid, g.baseAddress, Int32(g.count))
            }
        }
        guard r == 0 else { throw SystemError("become uid \(identity.uid) gid \(identity.gid) with capabilities \(caps)") }
        try check(identity, caps)
    }

    private static func check(_ identity: ComponentIdentity, _ caps: [Int32]) throws(SystemError) {
        guard getuid() == identity.uid, geteuid() == identity.uid, getgid() == identity.gid, getegid() == identity.gid else {
            throw SystemError("ids did not change to \(identity.uid):\(identity.gid)", errno: EPERM)
        }
        let CAP_SETUID: Int32 = 7
        if !caps.contains(CAP_SETUID) && setuid(0) == 0 { throw SystemError("setuid(0) still works after dropping", errno: EPERM) }
    }
}

extension Capabilities {
    /// Permitted and effective are exactly `caps`, inheritable and ambient empty (/proc/self/status).
    static func holdsExactly(_ caps: [Int32]) -> Bool {
        guard let text = Files.readText("/proc/self/status", limit: 1 << 16) else { return false }
        let want = caps.reduce(UInt64(0)) { $0 | (UInt64(1) << UInt64($1)) }
        var seen: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].hasPrefix("Cap") else { continue }
            seen[String(parts[0])] = UInt64(parts[1].trimmingCharacters(), radix: 16)
        }
        return seen["CapPrm"] == want && seen["CapEff"] == want && seen["CapInh"] == 0 && seen["CapAmb"] == 0
    }
}

private extension Substring {
    func trimmingCharacters() -> String { String(filter { !$0.isWhitespace }) }
}
