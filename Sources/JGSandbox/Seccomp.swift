import CCap
import CSeccomp
import Glibc
import JGIPC

/// Seccomp filters from named syscall lists (the profiles live next to each component).
public enum Seccomp {
    /// Every syscall in `names` fails with EPERM; the rest are allowed. An unknown name is an error.
    public static func denyList(_ names: [String]) throws(SystemError) {
        let cstrs = names.map { strdup($0) }
        defer { cstrs.forEach { free($0) } }
        let ptrs = cstrs.map { UnsafePointer<CChar>($0) }
        guard ptrs.withUnsafeBufferPointer({ jg_seccomp_load_denylist($0.baseAddress, Int32(ptrs.count), EPERM) }) == 0 else {
            throw SystemError("seccomp deny-list")
        }
    }
}

extension Seccomp {
    /// The deny-list as classic BPF instructions, for a child process to install just before exec.
    public static func exportDenyList(_ names: [String]) throws(SystemError) -> [UInt8] {
        try export(names, "seccomp export", jg_seccomp_export_denylist)
    }

    /// The locked agent's filter (`seccomp/locked.deny` plus the argument checks of jg_seccomp_export_locked):
    /// AF_UNIX sockets only, no TIOCSTI, no new user namespace, other architectures killed.
    public static func exportLocked(_ names: [String]) throws(SystemError) -> [UInt8] {
        try export(names, "seccomp export (locked)", jg_seccomp_export_locked)
    }

    private static func export(_ names: [String], _ what: String,
                               _ build: (UnsafePointer<UnsafePointer<CChar>?>?, Int32, Int32, UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt>?) -> Int32)
        throws(SystemError) -> [UInt8] {
        let cstrs = names.map { strdup($0) }
        defer { cstrs.forEach { free($0) } }
        let ptrs = cstrs.map { UnsafePointer<CChar>($0) }
        var out = [UInt8](repeating: 0, count: 64 * 1024)
        var len = UInt(out.count)
        let r = ptrs.withUnsafeBufferPointer { p in out.withUnsafeMutableBytes { build(p.baseAddress, Int32(ptrs.count), EPERM, $0.baseAddress, &len) } }
        guard r == 0 else { throw SystemError(what) }
        return Array(out.prefix(Int(len)))
    }
}

/// Capability sets (libcap through CCap); `become` is in CapabilitiesBecome.swift.
public enum Capabilities {}
