import CCap
import Glibc
import JGIPC

extension Capabilities {
    /// Becomes `identity` keeping exactly `caps` (none for the gate and the prover), then checks the
    /// result: the ids are the identity's everywhere (real, effective, saved) and, without CAP_SETUID,
    /// root cannot be regained.
    public static func become(_ identity: ComponentIdentity, keeping caps: [Int32]) throws(SystemError) {
        let r = caps.withUnsafeBufferPointer { c in
            identity.groups.withUnsafeBufferPointer { g in
                jg_cap_become(c.baseAddress, Int32(c.count), identity.uid, identity.gid, g.baseAddress, Int32(g.count))
            }
        }
        guard r == 0 else { throw SystemError("become uid \(identity.uid) gid \(identity.gid) with capabilities \(caps)") }
        guard getuid() == identity.uid, geteuid() == identity.uid, getgid() == identity.gid, getegid() == identity.gid else {
            throw SystemError("ids did not change to \(identity.uid):\(identity.gid)", errno: EPERM)
        }
        let CAP_SETUID: Int32 = 7
        if !caps.contains(CAP_SETUID) && setuid(0) == 0 { throw SystemError("setuid(0) still works after dropping", errno: EPERM) }
    }
}
