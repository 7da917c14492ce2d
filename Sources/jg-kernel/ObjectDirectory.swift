import Glibc
import JGIPC

/// The directory of the BPF objects, opened while jg-kernel is still root: as its own user it may not be
/// able to search the directories above it. /proc/self/fd/N reaches the directory without walking them
/// (a process may always use its own descriptors there, dumpable or not).
struct ObjectDirectory {
    let requested: String?
    let fd: Int32

    /// JINNGUARD_BPF_DIR, else `bpf/` next to this executable — where the supervisor's settings point too.
    static func openWhileRoot() -> ObjectDirectory {
        var dir = getenv("JINNGUARD_BPF_DIR").map { String(cString: $0) }
        if dir == nil {
            var buf = [CChar](repeating: 0, count: 4096)
            let n = readlink("/proc/self/exe", &buf, buf.count - 1)
            if n > 0 {
                let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                dir = String(exe[..<(exe.lastIndex(of: "/") ?? exe.endIndex)]) + "/bpf"
            }
        }
        guard let d = dir else { return ObjectDirectory(requested: nil, fd: -1) }
        return ObjectDirectory(requested: d, fd: open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC))
    }

    /// The path to load `dir`'s objects from: through the descriptor when it is the directory opened at start.
    func path(for dir: String) -> String {
        guard fd >= 0, dir == requested else { return dir }
        return "/proc/self/fd/\(fd)"
    }
}
