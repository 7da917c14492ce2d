import CCap
import Glibc
import JGIPC

enum ProverSandbox {
    /// No filesystem (an empty root), no identity, no capabilities, no new privileges.
    static func enter(emptyRoot: String?) throws {
        if let root = emptyRoot { try Privileges.chrootEmpty(root) }
        // The bounding set can only be emptied while still root; setuid then clears the rest.
        guard jg_cap_drop_bounding(nil, 0) == 0 else { throw SystemError("drop capability bounding set") }
        try Privileges.becomeUser(uid: Privileges.nobody, gid: Privileges.nobody)
        guard jg_cap_set(nil, 0) == 0 else { throw SystemError("drop capabilities") }
        try Privileges.noNewPrivileges()
        Privileges.setDumpable(true)
    }
}
