import Glibc
import JGIPC
import JGSandbox

enum ProverSandbox {
    /// No filesystem (an empty root), its own user, no capabilities, no new privileges, not dumpable.
    static func enter(emptyRoot: String?, as identity: ComponentIdentity) throws {
        // Under systemd the unit's RuntimeDirectory= (empty, its own) is the root: the state directory is
        // not the prover's to search. CAP_SYS_CHROOT, the unit's only capability, is dropped right after.
        let systemdRoot = SystemdComponent.active ? getenv("RUNTIME_DIRECTORY").map { String(cString: $0) } : nil
        if let root = systemdRoot ?? emptyRoot { try Privileges.chrootEmpty(root) }
        try Capabilities.become(identity, keeping: [])
        try Privileges.noNewPrivileges()
        try Privileges.notDumpable()
    }

    /// After the first policy is compiled the prover only computes: no files, sockets or processes.
    static func lockDown() throws { try Seccomp.denyList(SeccompProfiles.prover) }
}
