import Glibc
import JGIPC
import JGSandbox

enum Sandbox {
    /// The gate's own user, no capabilities, no new privileges, not dumpable (its memory holds the HMAC
    /// keys), then the seccomp filter.
    static func enterGate(_ identity: ComponentIdentity) throws {
        try Capabilities.become(identity, keeping: [])
        try Privileges.noNewPrivileges()
        try Privileges.notDumpable()
        try Seccomp.denyList(SeccompProfiles.gate)
    }
}
