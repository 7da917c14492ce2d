import ArgumentParser
import CJGSys
import Glibc
import JGIPC

/// `jinnguard kernel detach`: the documented break-glass for the kernel plane. jg-kernel pins its BPF links
/// under /sys/fs/bpf/jinnguard/<instance>/ so that enforcement survives a jg-kernel restart; this
/// force-detaches every one of those links (even while a jg-kernel still holds them), removes the pins
/// and the empty cgroups jg-kernel made. Enforcement stays off until a jg-kernel starts again: stop the
/// daemon first for a lasting detach. Runs `jg-kernel detach` (which has libbpf) from next to this binary.
struct KernelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel",
        abstract: "The BPF kernel plane.",
        subcommands: [Detach.self])

    struct Detach: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "detach",
            abstract: "Break-glass: detach and unpin every BPF program jg-kernel attached (needs root).")

        @Option(help: "Only this instance (a directory name under /sys/fs/bpf/jinnguard).")
        var instance: String?

        func run() throws {
            let code = KernelDetach.run(instance: instance)
            if code != 0 { throw ExitCode(code) }
        }
    }
}

enum KernelDetach {
    /// Execs `<dir of this binary>/jg-kernel detach [INSTANCE]` and waits; returns its exit status.
    static func run(instance: String? = nil) -> Int32 {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { print("jinnguard: cannot find own executable: \(String(cString: strerror(errno)))"); return 2 }
        let selfPath = CText.string(buf)
        let dir = String(selfPath[..<(selfPath.lastIndex(of: "/") ?? selfPath.endIndex)])
        let exe = dir + "/jg-kernel"
        guard access(exe, X_OK) == 0 else { print("jinnguard: \(exe) not found"); return 2 }
        let args = [exe, "detach"] + (instance.map { [$0] } ?? [])
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        jg_sys_stdout_flush()
        var pid: pid_t = 0
        let r = posix_spawn(&pid, exe, nil, nil, &argv, environ)
        guard r == 0 else { print("jinnguard: cannot run \(exe): \(String(cString: strerror(r)))"); return 2 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 2
    }
}
