import Glibc
import JGIPC
import JGSandbox

enum ProverSandbox {
    /// No filesystem (an empty root), no identity, no capabilities, no new privileges.
    static func enter(emptyRoot: String?) throws {
        if let root = emptyRoot { try Privileges.chrootEmpty(root) }
        try Capabilities.dropAll(becoming: Privileges.nobody, gid: Privileges.nobody)
        try Privileges.noNewPrivileges()
        Privileges.setDumpable(true)
    }

    /// After the first policy is compiled the prover only computes: no files, sockets or processes.
    static func lockDown() throws { try Seccomp.denyList(SeccompProfiles.prover) }
}
