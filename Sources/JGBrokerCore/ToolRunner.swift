import CJGSys
import Glibc
import JGCrypto
import JGIPC
import JGJSON
import JGPolicy
import JGSandbox

/// Runs an approved action: shell commands in a sandbox as an unprivileged user, file writes beneath the
/// workspace only, network requests through NetworkFetcher.
public struct ToolRunner {
    public var workspace: String
    public var uid: UInt32 = Privileges.nobody
    public var gid: UInt32 = Privileges.nobody
    public var timeout: Double = 10
    public var outputCap = 1 << 20

    /// The daemon's state directory: names the kernel-plane instance whose agent cgroups are governed.
    public var stateDir: String?
    /// Told about each run cgroup (path, agent, true when created / false before removal), so the broker can
    /// ask jg-kernel to govern exactly that cgroup.
    public var onRunCgroup: ((String, String, Bool) -> Void)?
    /// The policy's canary resources: a decoy of each is planted in every agent workspace (CanaryDecoys).
    public var canaryResources: [String] = []

    public init(workspace: String, stateDir: String? = nil) {
        self.workspace = workspace
        self.stateDir = stateDir
    }

    /// The directory an agent's actions may write to: `<workspace root>/<agent id>` (a digest when the id
    /// is not a safe file name), owned by the tool user. One agent's tools never see another's files.
    public static func agentDirectoryName(_ id: String) -> String {
        let safe = !id.isEmpty && id != "." && id != ".." && id.utf8.count <= 128
            && id.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0)) }
        return safe ? id : "agent-" + String(Digest.sha256Hex(id).prefix(16))
    }

    public func workspace(for agentID: String) -> String { workspace + "/" + Self.agentDirectoryName(agentID) }

    /// This runner, confined to the agent's own workspace (created on first use).
    public func forAgent(_ agentID: String) -> ToolRunner? {
        let dir = workspace(for: agentID)
        if mkdir(dir, 0o755) == 0 {
            guard chown(dir, uid, gid) == 0 else { return nil }
        } else if errno != EEXIST {
            return nil
        }
        CanaryDecoys.plant(canaryResources, in: dir, uid: uid, gid: gid)
        var r = self
        r.workspace = dir
        return r
    }

    public struct Result {
        /// One line, keys sorted (PROTOCOL.md §5).
        public var json: JSONValue
        public var executed: Bool
        /// Which sandbox layers were in place (recorded in the audit outcome).
        public var sandbox: [String] = []

        public init(json: JSONValue, executed: Bool) {
            self.json = json
            self.executed = executed
        }
    }

    public func run(_ a: ProposedAction, constraints: Constraints?, allowedDestinations: [String] = [],
                    limits: ToolLimits = ToolLimits(), agentID: String = "") -> Result {
        switch a.kind {
        case "shell_command": return shell(a.command ?? "", constraints, limits, agentID: agentID)
        case "file_write": return fileWrite(a.path ?? "", a.contents ?? "")
        case "network_request":
            return NetworkFetcher().fetch(url: a.url ?? "", method: a.method, allowed: allowedDestinations, constraints: constraints)
        default:
            return failure("action kind \"\(a.kind)\" is not executed by this broker yet")
        }
    }

    func failure(_ msg: String) -> Result {
        Result(json: .object([("error", .string(msg)), ("executed", .bool(false))]), executed: false)
    }

    /// The cgroup v2 directory tool runs are placed under (created by the supervisor), if any.
    public var cgroupParent: String? = RunCgroup.defaultParent()
    nonisolated(unsafe) static var runCounter: UInt64 = 0
    static let seccompFilter: [UInt8]? = try? Seccomp.exportDenyList(SeccompProfiles.tool)

    /// shell_command in a sandbox: its own cgroup, user/mount/pid/net/ipc/uts namespaces, a private /tmp,
    /// Landlock (read-only but the workspace; no TCP), a seccomp deny-list, no_new_privs, rlimits, a
    /// wall-clock limit, and captured output with a cap.
    func shell(_ command: String, _ c: Constraints?, _ limits: ToolLimits, agentID: String = "") -> Result {
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        // Single-threaded broker: no exec can race between pipe() and FD_CLOEXEC.
        guard pipe(&outPipe) == 0 else { return failure("pipe: \(String(cString: strerror(errno)))") }
        guard pipe(&errPipe) == 0 else {
            close(outPipe[0]); close(outPipe[1])
            return failure("pipe: \(String(cString: strerror(errno)))")
        }
        let outR = OwnedFD(adopting: outPipe[0]), outW = OwnedFD(adopting: outPipe[1])
        let errR = OwnedFD(adopting: errPipe[0]), errW = OwnedFD(adopting: errPipe[1])
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        Self.runCounter += 1
        let governed = stateDir.flatMap { RunCgroup.governedParent(stateDir: $0, agentID: agentID) }
        let cg = (governed ?? cgroupParent).flatMap { RunCgroup(parent: $0, name: "run-\(getpid())-\(Self.runCounter)") }
        if let cg, governed != nil { onRunCgroup?(cg.path, agentID, true) }
        defer {
            if let cg, governed != nil { onRunCgroup?(cg.path, agentID, false) }
            cg?.remove()
        }
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("sh"), strdup("-c"), strdup(command), nil]
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/local/bin:/usr/bin:/bin"), strdup("HOME=" + workspace),
                                                    strdup("TMPDIR=" + (workspace.hasPrefix("/tmp/") ? workspace : "/tmp")), strdup("LANG=C.UTF-8"), nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var achieved: UInt32 = 0
        var failedStep: Int32 = 0
        let filter = Self.seccompFilter ?? []
        let pid: Int32 = workspace.withCString { ws in
            "/bin/sh".withCString { path in
                filter.withUnsafeBytes { f in
                    argv.withUnsafeBufferPointer { av in
                        envp.withUnsafeBufferPointer { ev in
                            var spec = jg_tool_spec()
                            spec.path = path
                            spec.argv = av.baseAddress
                            spec.envp = ev.baseAddress
                            spec.workspace = ws
                            spec.uid = uid
                            spec.gid = gid
                            spec.out_fd = outW.raw
                            spec.err_fd = errW.raw
                            spec.cgroup_procs_fd = cg?.procs.raw ?? -1
                            spec.rlimit_cpu_seconds = limits.cpuSeconds
                            spec.rlimit_as_bytes = limits.memoryMB << 20
                            spec.rlimit_fsize_bytes = limits.fileSizeMB << 20
                            spec.rlimit_nproc = limits.maxProcesses
                            spec.rlimit_nofile = 256
                            spec.seccomp_filter = f.baseAddress
                            spec.seccomp_len = UInt16(filter.count / 8)
                            spec.require_all = 0
                            return jg_tool_spawn(&spec, &achieved, &failedStep)
                        }
                    }
                }
            }
        }
        outW.close(); errW.close()
        guard pid > 0 else { return failure("sandbox step \(failedStep): \(String(cString: strerror(errno)))") }
        try? outR.setNonBlocking(); try? errR.setNonBlocking()
        let cap = min(outputCap, limits.outputBytes)
        var out: [UInt8] = [], err: [UInt8] = []
        var open = [true, true]
        let deadline = Monotonic.now + limits.timeoutSeconds
        var timedOut = false
        var buf = [UInt8](repeating: 0, count: 65536)
        while open[0] || open[1] {
            let left = deadline - Monotonic.now
            if left <= 0 { timedOut = true; break }
            var pfds = [pollfd(fd: open[0] ? outR.raw : -1, events: Int16(POLLIN), revents: 0),
                        pollfd(fd: open[1] ? errR.raw : -1, events: Int16(POLLIN), revents: 0)]
            _ = poll(&pfds, 2, Int32(min(left * 1000, 1000)))
            for (i, fd) in [outR, errR].enumerated() where open[i] && pfds[i].revents != 0 {
                let n = read(fd.raw, &buf, buf.count)
                if n > 0 {
                    if i == 0 { if out.count < cap { out += buf[0..<min(n, cap - out.count)] } }
                    else { if err.count < cap { err += buf[0..<min(n, cap - err.count)] } }
                } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                    open[i] = false
                }
            }
        }
        if timedOut {
            kill(-pid, SIGKILL)
            cg?.killAll()
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exitCode: Int64 = (status & 0x7f) == 0 ? Int64((status >> 8) & 0xff) : -Int64(status & 0x7f)
        var stdout = String(decoding: out, as: UTF8.self)
        var stderr = String(decoding: err, as: UTF8.self)
        if let c = c {
            if c.redactOutput { stdout = Redactor.redact(stdout); stderr = Redactor.redact(stderr) }
            stdout = truncate(stdout, c.outputByteLimit)
            stderr = truncate(stderr, c.outputByteLimit)
        }
        var pairs: [(String, JSONValue)] = []
        if timedOut { pairs.append(("error", .string("killed after \(limits.timeoutSeconds) s"))) }
        pairs += [("executed", .bool(true)), ("exit_code", .integer(.signed(exitCode))), ("stderr", .string(stderr)), ("stdout", .string(stdout))]
        var r = Result(json: .object(pairs), executed: true)
        r.sandbox = SandboxReport.names(achieved) + (governed != nil && cg != nil ? ["kernel_governed"] : [])
        return r
    }

    func truncate(_ s: String, _ limit: Int) -> String {
        guard s.utf8.count > limit else { return s }
        var bytes = Array(s.utf8.prefix(limit))
        // Never cut a UTF-8 sequence in half.
        while let l = bytes.last, l & 0xC0 == 0x80 { bytes.removeLast() }
        if let l = bytes.last, l & 0x80 != 0 { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    func fileWrite(_ path: String, _ contents: String) -> Result {
        let dir = open(workspace, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { return failure("workspace: \(String(cString: strerror(errno)))") }
        defer { close(dir) }
        // Absolute paths are taken relative to the workspace only when they point inside it.
        var rel = path
        if rel.hasPrefix(workspace + "/") { rel = String(rel.dropFirst(workspace.count + 1)) }
        if rel.hasPrefix("/") { return failure("path outside the workspace") }
        // The file is created with the tool user's file-system identity: the broker writes nothing
        // that the agent's own tools could not.
        let oldGid = jg_sys_setfsgid(gid)
        let oldUid = jg_sys_setfsuid(uid)
        let fd = jg_sys_openat2_beneath(dir, rel, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o640)
        let openErrno = errno
        _ = jg_sys_setfsuid(UInt32(oldUid))
        _ = jg_sys_setfsgid(UInt32(oldGid))
        guard fd >= 0 else { return failure("open \(path): \(String(cString: strerror(openErrno)))") }
        let f = OwnedFD(adopting: fd)
        let b = Array(contents.utf8)
        do { try f.writeAll(b) } catch { return failure("write \(path): \(error)") }
        return Result(json: .object([("bytes_written", .integer(.signed(Int64(b.count)))), ("executed", .bool(true)),
                                     ("path", .string(workspace + "/" + rel))]), executed: true)
    }
}
