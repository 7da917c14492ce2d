import CJGSys
import Glibc
import JGCrypto
import JGIPC
import JGJSON
import JGPolicy
import JGSandbox

/// One agent's tool identity and workspace, prepared by the supervisor (WorkspacePreparer): a uid of its
/// own and a size-limited file system mounted at the workspace.
public struct ToolAccount: Sendable, Equatable {
    public var uid: UInt32
    public var workspace: String
    public init(uid: UInt32, workspace: String) {
        self.uid = uid
        self.workspace = workspace
    }
}

/// Runs an approved action: shell commands in a sandbox under the agent's own tool uid, file writes beneath
/// the workspace only, network requests through NetworkFetcher.
public struct ToolRunner {
    public var workspace: String
    /// The agent's tool identity; nobody only until forAgent picks the agent's own (a run as nobody is refused).
    public var uid: UInt32 = Privileges.nobody
    public var gid: UInt32 = Privileges.nobody
    /// Agent id → its account; agents without one get DENY_SANDBOX_UNAVAILABLE with `unavailable[id]`.
    public var accounts: [String: ToolAccount] = [:]
    public var unavailable: [String: String] = [:]
    /// Paths no tool may see (the daemon's state, socket, policy, audit log, keys).
    public var hiddenPaths: [String] = []
    public var enforcement: SandboxEnforcement = .required
    /// Set when this runner cannot run anything: every action is refused with this reason.
    var refusal: String?
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
    public static func agentDirectoryName(_ id: String) -> String { ToolAccounts.directoryName(id) }

    public func workspace(for agentID: String) -> String { workspace + "/" + Self.agentDirectoryName(agentID) }

    /// This runner, confined to the agent's own workspace under the agent's own tool uid. Without a
    /// prepared account the runner refuses every action (fail closed: DENY_SANDBOX_UNAVAILABLE).
    public func forAgent(_ agentID: String, mode: SandboxMode = .required) -> ToolRunner? {
        var r = self
        r.enforcement = mode == .bestEffort ? .bestEffort : .required
        guard let a = accounts[agentID] else {
            r.refusal = "workspace unavailable: " + (unavailable[agentID] ?? "no tool account prepared for this agent")
            return r
        }
        r.workspace = a.workspace
        r.uid = a.uid
        r.gid = a.uid
        CanaryDecoys.plant(canaryResources, in: a.workspace, uid: a.uid, gid: a.uid)
        return r
    }

    public struct Result {
        /// One line, keys sorted (PROTOCOL.md §5).
        public var json: JSONValue
        public var executed: Bool
        /// Which sandbox layers were in place (recorded in the audit outcome).
        public var sandbox: [String] = []
        /// Layers that could not be applied: skipped (best effort) or the reason of a refusal.
        public var sandboxMissing: [String] = []
        /// A DENY_ token: nothing ran, the agent is told so (the reason is in `json` and audited).
        public var denial: String?

        public init(json: JSONValue, executed: Bool) {
            self.json = json
            self.executed = executed
        }
    }

    public func run(_ a: ProposedAction, constraints: Constraints?, allowedDestinations: [String] = [],
                    limits: ToolLimits = ToolLimits(), agentID: String = "") -> Result {
        if let refusal { return denied(refusal, missing: []) }
        switch a.kind {
        case "shell_command": return shell(a.command ?? "", constraints, limits, agentID: agentID)
        case "file_write": return fileWrite(a.path ?? "", a.contents ?? "")
        case "network_request":
            return NetworkFetcher().fetch(url: a.url ?? "", method: a.method, allowed: allowedDestinations, constraints: constraints)
        default:
            return failure("action kind \"\(a.kind)\" is not executed by this broker yet")
        }
    }

    func denied(_ msg: String, missing: [String]) -> Result {
        var r = failure(msg)
        r.denial = "DENY_SANDBOX_UNAVAILABLE"
        r.sandboxMissing = missing
        return r
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
        let launch: SandboxLaunch
        do { launch = try spawnSandboxed(command, limits, stdout: outW, stderr: errW, cgroup: cg) } catch {
            outW.close(); errW.close()
            Log.warn("run of \(agentID) refused: \(error)")
            return denied(error.description, missing: error.missing.names)
        }
        let pid = launch.pid
        outW.close(); errW.close()
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
        r.sandbox = launch.achieved.names + (governed != nil && cg != nil ? ["kernel_governed"] : [])
        r.sandboxMissing = launch.missing.names
        if let why = launch.missingReason { Log.warn("run of \(agentID) without \(why) (sandbox_mode: best_effort)") }
        return r
    }

    /// The one place a tool run's confined child is created (DESIGN.md §2a): the agent's uid, a view holding
    /// its workspace, read-only system directories, a private /tmp and /dev, its own /proc, and nothing of
    /// the daemon; namespaces, Landlock with scoping, seccomp, no capabilities, rlimits, its cgroup.
    func spawnSandboxed(_ command: String, _ limits: ToolLimits, stdout: borrowing OwnedFD, stderr: borrowing OwnedFD,
                        cgroup: RunCgroup?) throws(SandboxError) -> SandboxLaunch {
        if uid == Privileges.nobody { throw SandboxError(layer: "identity", errno: EPERM) }
        var spec = SandboxSpec(executable: "/bin/sh", arguments: ["sh", "-c", command],
                               environment: ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + workspace, "TMPDIR=/tmp", "LANG=C.UTF-8"],
                               workspace: workspace, uid: uid, gid: gid)
        spec.hiddenPaths = hiddenPaths
        spec.enforcement = enforcement
        spec.tmpMB = 64
        spec.limits.cpuSeconds = limits.cpuSeconds
        spec.limits.addressSpaceBytes = limits.memoryMB << 20
        spec.limits.fileSizeBytes = limits.fileSizeMB << 20
        spec.limits.processes = limits.maxProcesses
        spec.limits.openFiles = 256
        spec.seccompFilter = Self.seccompFilter ?? []
        return try SandboxBuilder.spawn(spec, stdout: stdout, stderr: stderr, cgroupProcs: cgroup?.procs.raw)
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
        // The workspace (0700, the tool uid's) is entered with the tool user's file-system identity, its parent
        // (the daemon's) with the broker's.
        guard let slash = workspace.lastIndex(of: "/") else { return failure("workspace: bad path") }
        let parentPath = slash == workspace.startIndex ? "/" : String(workspace[..<slash])
        let parent = open(parentPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { return failure("workspace: \(String(cString: strerror(errno)))") }
        defer { close(parent) }
        let fsGid = jg_sys_setfsgid(gid)
        let fsUid = jg_sys_setfsuid(uid)
        let dir = openat(parent, String(workspace[workspace.index(after: slash)...]), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        let dirErrno = errno
        _ = jg_sys_setfsuid(UInt32(fsUid))
        _ = jg_sys_setfsgid(UInt32(fsGid))
        guard dir >= 0 else { return failure("workspace: \(String(cString: strerror(dirErrno)))") }
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
