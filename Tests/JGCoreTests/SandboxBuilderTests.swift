import CJGSys
import Glibc
import JGIPC
import JGSandbox
import Testing

/// The builder on its own, as locked agents and MCP upstream servers will use it: a real confined process
/// (needs root to change to the tool uid).
@Suite struct SandboxBuilderTests {
    static let uid: UInt32 = 1_600_099_999

    func run(_ spec: SandboxSpec) throws -> (String, SandboxLaunch) {
        var p: [Int32] = [-1, -1]
        // Close-on-exec: other suites fork concurrently in this process, and a child of theirs holding the
        // write end would keep the read below waiting (the builder dup2s it into its own child anyway).
        #expect(jg_sys_pipe_cloexec(&p) == 0)
        let r = OwnedFD(adopting: p[0]), w = OwnedFD(adopting: p[1])
        let launch = try SandboxBuilder.spawn(spec, stdout: w, stderr: w, cgroupProcs: nil)
        w.close()
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(r.raw, &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        var st: Int32 = 0
        _ = waitpid(launch.pid, &st, 0)
        return (String(decoding: out, as: UTF8.self), launch)
    }

    @Test(.enabled(if: getuid() == 0, "changing to a tool uid needs root"))
    func viewHoldsTheWorkspaceAndExposedPathsOnly() throws {
        var tmpl = Array("/tmp/jgsb-XXXXXX".utf8CString)
        let base = String(cString: tmpl.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) })
        defer { _ = system("rm -rf '\(base)'") }
        let ws = base + "/ws"
        #expect(mkdir(ws, 0o700) == 0 && chown(ws, Self.uid, Self.uid) == 0)
        #expect(chmod(base, 0o755) == 0)
        for (name, text) in [("secret.txt", "daemon-secret"), ("exposed.txt", "for-the-agent")] {
            let fd = open(base + "/" + name, O_WRONLY | O_CREAT, 0o644)
            _ = text.withCString { write(fd, $0, strlen($0)) }
            close(fd)
        }
        var spec = SandboxSpec(executable: "/bin/sh",
                               arguments: ["sh", "-c", "id -u; cat \(base)/exposed.txt; echo; cat \(base)/secret.txt; echo x > \(base)/exposed.txt; pwd"],
                               environment: ["PATH=/usr/bin:/bin"], workspace: ws, uid: Self.uid, gid: Self.uid)
        spec.layers.remove(.cgroup)
        spec.exposedPaths = [base + "/exposed.txt"]
        spec.seccompFilter = try Seccomp.exportDenyList(SeccompProfiles.tool)
        let (out, launch) = try run(spec)
        #expect(launch.missing.isEmpty)
        #expect(launch.achieved.isSuperset(of: [.view, .userNamespace, .landlockScope, .seccomp]))
        #expect(out.hasPrefix("\(Self.uid)\nfor-the-agent\n"), "\(out)")
        #expect(!out.contains("daemon-secret"), "\(out)")
        #expect(out.hasSuffix(ws + "\n"), "\(out)")
        var st = stat()
        #expect(stat(base + "/exposed.txt", &st) == 0 && st.st_size == 13, "exposed read-only: the tool's write did not land")
    }

    @Test func rootIsNeverATool() {
        let spec = SandboxSpec(executable: "/bin/true", arguments: ["true"], environment: [], workspace: "/tmp", uid: 0, gid: 0)
        let w = OwnedFD(adopting: dup(2))
        #expect(throws: SandboxError.self) { try SandboxBuilder.spawn(spec, stdout: w, stderr: w, cgroupProcs: nil) }
    }
}
