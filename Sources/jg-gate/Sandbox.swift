import Glibc
import JGIPC
import JGSandbox

enum Sandbox {
    static func enterGate() throws {
        try Capabilities.dropAll(becoming: Privileges.nobody, gid: Privileges.nobody)
        try Privileges.noNewPrivileges()
        // Without this, a process that changed uid cannot be inspected in /proc by the operator.
        Privileges.setDumpable(true)
        try Seccomp.denyList(SeccompProfiles.gate)
    }
}
