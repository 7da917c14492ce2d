import Glibc
import JGIPC
import JGSandbox

enum ProverSandbox {
    /// No filesystem (an empty root), its own user, no capabilities, no new privileges, not dumpable.
    static func enter(emptyRoot: String?, as identity: ComponentIdentity) throws {
        if let root = emptyRoot { try Privileges.chrootEmpty(root) }
        try Capabilities.become(identity, keeping: [])
        try Privileges.noNewPrivileges()
        try Privileges.notDumpable()
    }

    /// After the first policy is compiled the prover only computes: no files, sockets or processes.
    static func lockDown() throws { try Seccomp.denyList(SeccompProfiles.prover) }
}
