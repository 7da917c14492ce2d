import CBPF

/// The words of a refused-syscall record (jg_trace.bpf.c's sys_exit program): the syscall by name, the
/// errno the kernel answered by name, and the argument that says what was tried.
enum Refusal {
    /// x86_64 numbers of the calls the program records.
    static let names: [Int32: String] = [
        2: "open", 16: "ioctl", 41: "socket", 42: "connect", 49: "bind", 53: "socketpair", 56: "clone", 57: "fork",
        58: "vfork", 62: "kill", 85: "creat", 101: "ptrace", 155: "pivot_root", 161: "chroot", 165: "mount",
        166: "umount2", 175: "init_module", 176: "delete_module", 200: "tkill", 234: "tgkill", 246: "kexec_load",
        248: "add_key", 249: "request_key", 250: "keyctl", 257: "openat", 272: "unshare", 298: "perf_event_open",
        308: "setns", 310: "process_vm_readv", 311: "process_vm_writev", 312: "kcmp", 313: "finit_module",
        320: "kexec_file_load", 321: "bpf", 323: "userfaultfd", 424: "pidfd_send_signal", 425: "io_uring_setup",
        426: "io_uring_enter", 427: "io_uring_register", 428: "open_tree", 429: "move_mount", 430: "fsopen",
        431: "fsconfig", 432: "fsmount", 433: "fspick", 435: "clone3", 437: "openat2", 438: "pidfd_getfd",
        442: "mount_setattr",
    ]
    static let errnos: [Int64: String] = [1: "EPERM", 2: "ENOENT", 3: "ESRCH", 11: "EAGAIN", 13: "EACCES", 30: "EROFS",
                                          38: "ENOSYS", 97: "EAFNOSUPPORT", 111: "ECONNREFUSED"]

    static func u64(_ b: [UInt8], _ at: Int) -> UInt64 {
        guard b.count >= at + 8 else { return 0 }
        return (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) }
    }

    static func describe(nr: Int32, detail b: [UInt8]) -> String {
        let ret = Int64(bitPattern: u64(b, 0)), a0 = u64(b, 8), a1 = u64(b, 16)
        let suppressed = b.count >= 28 ? UInt32(b[24]) | UInt32(b[25]) << 8 | UInt32(b[26]) << 16 | UInt32(b[27]) << 24 : 0
        var words = [names[nr] ?? "syscall\(nr)", errnos[-ret] ?? "errno\(-ret)"]
        switch names[nr] ?? "" {
        case "socket", "socketpair": words.append("family=\(a0)")
        case "ioctl": words.append("request=0x" + String(a1, radix: 16))
        case "clone", "clone3", "unshare": words.append("flags=0x" + String(a0, radix: 16))
        case "kill", "tkill", "ptrace": words.append(names[nr] == "ptrace" ? "pid=\(a1)" : "pid=\(Int32(truncatingIfNeeded: a0))")
        case "connect", "bind":
            let start = Int(JG_REFUSAL_PATH), path = b.count > start ? Array(b[start...]) : []
            // A UNIX path; an abstract one starts with NUL (shown as @) and ends at the next NUL.
            if path.first == 0 {
                let rest = path.dropFirst(), n = rest.firstIndex(of: 0) ?? rest.endIndex
                words.append("unix:@" + String(decoding: rest[..<n], as: UTF8.self))
            } else if !path.isEmpty {
                let n = path.firstIndex(of: 0) ?? path.count
                words.append("unix:" + String(decoding: path[..<n], as: UTF8.self))
            }
        case "open", "openat", "openat2", "creat":
            let start = Int(JG_REFUSAL_PATH), path = b.count > start ? Array(b[start...]) : []
            let n = path.firstIndex(of: 0) ?? path.count
            words.append(String(decoding: path[..<n], as: UTF8.self))
        default: break
        }
        if suppressed > 0 { words.append("suppressed=\(suppressed)") }
        return words.joined(separator: " ")
    }
}
