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
    /// The workspace's name: what agents, hard rules and results call it, and its path inside the view.
    public var workspace: String
    /// How the broker reaches it (through the state directory's descriptor, DirectoryHandle).
    public var workspaceAccess: String
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
    /// ask jg-kernel to govern exactly that cgroup. The last argument is called when the run may go on (after
    /// a release: the cgroup is removed and the result delivered) — when jg-kernel has answered, so that
    /// its telemetry of the run is in before the reply, or after a short limit; never waited for in place.
    public var onRunCgroup: ((String, String, Bool, @escaping () -> Void) -> Void)?
    /// The policy's canary resources: a decoy of each is planted in every agent workspace (CanaryDecoys).
    public var canaryResources: [String] = []
    /// The agent's writable_paths: absolute directories file_write may write below besides the workspace.
    public var writablePaths: [String] = []

    public init(workspace: String, stateDir: String? = nil) {
        self.init(workspace: DirectoryHandle(name: workspace), stateDir: stateDir)
    }

    public init(workspace: DirectoryHandle, stateDir: String? = nil) {
        self.workspace = workspace.name
        self.workspaceAccess = workspace.access
        self.stateDir = stateDir
    }

    /// The directory an agent's actions may write to: `<workspace root>/<agent id>` (a digest when the id
    /// is not a safe file name), owned by the tool user. One agent's tools never see another's files.
    public static func agentDirectoryName(_ id: String) -> String { AgentDirectory.name(id) }

    public func workspace(for agentID: String) -> String { workspace + "/" + Self.agentDirectoryName(agentID) }

    /// This runner, confined to the agent's own workspace under the agent's own tool uid. Without a
    /// prepared account the runner refuses every action (fail closed: DENY_SANDBOX_UNAVAILABLE).
    public func forAgent(_ agentID: String, mode: SandboxMode = .required, writablePaths: [String] = []) -> ToolRunner? {
        var r = self
        r.writablePaths = writablePaths
        r.enforcement = mode == .bestEffort ? .bestEffort : .required
        guard let a = accounts[agentID] else {
            r.refusal = "workspace unavailable: " + (unavailable[agentID] ?? "no tool account prepared for this agent")
            return r
        }
        // The account names the workspace; the broker reaches it below the root it was handed.
        guard let access = DirectoryHandle(name: workspace, access: workspaceAccess).access(ofName: a.workspace) else {
            r.refusal = "workspace unavailable: \(a.workspace) is not below \(workspace)"
            return r
        }
        r.workspace = a.workspace
        r.workspaceAccess = access
        r.uid = a.uid
        r.gid = a.uid
        CanaryDecoys.plant(canaryResources, in: access, uid: a.uid, gid: a.uid)
        return r
    }

    public struct Result {
        /// One line, keys sorted (PROTOCOL.md §5).
        public var json: JSONValue
        public var executed: Bool
        /// Which sandbox layers were in place (recorded in the audit outcome).
        public var sandbox: [String] = []
        /// Layers that could not be applied: skipped (best effort), or the one that refused the run.
        public var sandboxMissing: [String] = []
        /// Set when the action was refused at the last step (a file_write target that is no regular file):
        /// the agent is answered with this DENY_ token instead of the result.
        public var refusedToken: String?

        public init(json: JSONValue, executed: Bool) {
            self.json = json
            self.executed = executed
        }
    }

    /// What starting an action gave: its result at once, or a run watched from the event loop that calls
    /// `onDone` when it has ended (the caller keeps the watch until then).
    public enum Launch {
        case done(Result)
        case running(ChildWatch)
    }

    /// Starts an approved action without blocking: a shell command or a network request runs as a child
    /// watched from `loop`, killed at `killAt` (CLOCK_MONOTONIC); a file write is done at once. The
    /// captured output fits `replyBudget` bytes once JSON-escaped.
    public func start(_ a: ProposedAction, constraints: Constraints?, allowedDestinations: [String] = [],
                      limits: ToolLimits = ToolLimits(), agentID: String = "", loop: EventLoop, killAt: Double,
                      replyBudget: Int, onDone: @escaping (Result) -> Void) -> Launch {
        if let refusal { return .done(denied(refusal, missing: [])) }
        switch a.kind {
        case "shell_command":
            return shell(a.command ?? "", constraints, limits, agentID: agentID, loop: loop, killAt: killAt,
                         replyBudget: replyBudget, onDone: onDone)
        case "file_write": return .done(fileWrite(a.path ?? "", a.contents ?? ""))
        case "network_request":
            var f = NetworkFetcher()
            f.maxBytes = min(f.maxBytes, limits.outputBytes, constraints?.outputByteLimit ?? Int.max)
            return f.start(url: a.url ?? "", method: a.method, allowed: allowedDestinations, constraints: constraints,
                           loop: loop, killAt: killAt, replyBudget: replyBudget, onDone: onDone)
        default:
            return .done(failure("action kind \"\(a.kind)\" is not executed by this broker yet"))
        }
    }

    func denied(_ msg: String, missing: [String]) -> Result {
        var r = failure(msg)
        r.refusedToken = "DENY_SANDBOX_UNAVAILABLE"
        r.sandboxMissing = missing
        return r
    }

    func failure(_ msg: String) -> Result {
        Result(json: .object([("error", .string(msg)), ("executed", .bool(false))]), executed: false)
    }

    /// The cgroup v2 directory tool runs are placed under (created by the supervisor), if any.
    public var cgroupParent: String? = RunCgroup.defaultParent()
    /// Under systemd: agent → its cgroup in the broker's delegated subtree that jg-kernel governs.
    public var governedAgentCgroups: [String: String] = [:]
    /// Under systemd: `runs/` of the broker's delegated subtree (DelegatedCgroup), else nil.
    public var delegatedRunsParent: String? { RunCgroup.delegatedParent }
    /// Only the broker's event-loop thread starts runs, so the counter is never raced.
    nonisolated(unsafe) static var runCounter: UInt64 = 0
    static let seccompFilter: [UInt8]? = try? Seccomp.exportDenyList(SeccompProfiles.tool)

    /// A sandboxed child that has been started: the process to watch, the read ends of its output,
    /// the layers in place, and the run's cgroup (released by `finish`).
    public final class SpawnedTool {
        public let pid: Int32
        public let stdout: OwnedFD
        public let stderr: OwnedFD
        public let layers: [String]
        /// Layers skipped (best effort).
        public let missing: [String]
        let cgroup: RunCgroup?
        let release: (@escaping () -> Void) -> Void

        init(pid: Int32, stdout: OwnedFD, stderr: OwnedFD, layers: [String], missing: [String] = [], cgroup: RunCgroup?,
             release: @escaping (@escaping () -> Void) -> Void) {
            self.pid = pid
            self.missing = missing
            self.stdout = stdout
            self.stderr = stderr
            self.layers = layers
            self.cgroup = cgroup
            self.release = release
        }

        /// Kills the whole run: its process group and whatever else is in its cgroup.
        func killAll() {
            Glibc.kill(-pid, SIGKILL)
            Glibc.kill(pid, SIGKILL)
            cgroup?.killAll()
        }

        /// After the run: what it left behind is killed, jg-kernel told, the cgroup removed; then `then`.
        func finish(then: @escaping () -> Void) {
            cgroup?.killAll()
            release(then)
        }
    }

    public enum Spawn {
        case started(SpawnedTool)
        case failed(String)
        /// A sandbox layer could not be applied (required): nothing ran.
        case refused(SandboxError)
    }

    /// Creates the sandboxed child of a shell command: its own cgroup, user/mount/pid/net/ipc/uts
    /// namespaces, a private /tmp, Landlock (read-only but the workspace; no TCP), a seccomp deny-list,
    /// no_new_privs and rlimits. Everything after the spawn (watching, capture, deadlines, the result) is
    /// the caller's. The one place the sandbox is built.
    public func spawnSandboxed(_ command: String, _ limits: ToolLimits, agentID: String) -> Spawn {
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard jg_sys_pipe_cloexec(&outPipe) == 0 else { return .failed("pipe: \(String(cString: strerror(errno)))") }
        guard jg_sys_pipe_cloexec(&errPipe) == 0 else {
            close(outPipe[0]); close(outPipe[1])
            return .failed("pipe: \(String(cString: strerror(errno)))")
        }
        let outR = OwnedFD(adopting: outPipe[0]), outW = OwnedFD(adopting: outPipe[1])
        let errR = OwnedFD(adopting: errPipe[0]), errW = OwnedFD(adopting: errPipe[1])
        Self.runCounter += 1
        let governed = governedAgentCgroups[agentID] ?? stateDir.flatMap { RunCgroup.governedParent(stateDir: $0, agentID: agentID) }
        let cg = (governed ?? cgroupParent).flatMap { RunCgroup(parent: $0, name: "run-\(getpid())-\(Self.runCounter)") }
        if let cg, governed != nil { onRunCgroup?(cg.path, agentID, true) {} }
        let notify = onRunCgroup
        let release: (@escaping () -> Void) -> Void = { then in
            if let cg, governed != nil, let notify {
                notify(cg.path, agentID, false) {
                    cg.remove()
                    then()
                }
            } else {
                cg?.remove()
                then()
            }
        }
        // The agent's uid, a view holding its workspace, read-only system directories, a private /tmp and
        // /dev, its own /proc, nothing of the daemon; namespaces, Landlock with scoping, seccomp, no
        // capabilities, rlimits, descriptors closed (JGSandbox: SandboxSpec, SandboxBuilder).
        var spec = SandboxSpec(executable: "/bin/sh", arguments: ["sh", "-c", command],
                               environment: ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + workspace, "TMPDIR=/tmp", "LANG=C.UTF-8"],
                               workspace: workspace, uid: uid, gid: gid)
        spec.workspaceAccess = workspaceAccess == workspace ? nil : workspaceAccess
        spec.hiddenPaths = hiddenPaths
        spec.enforcement = enforcement
        spec.tmpMB = 64
        spec.limits.cpuSeconds = limits.cpuSeconds
        spec.limits.addressSpaceBytes = limits.memoryMB << 20
        spec.limits.fileSizeBytes = limits.fileSizeMB << 20
        spec.limits.processes = limits.maxProcesses
        spec.limits.openFiles = 256
        spec.seccompFilter = Self.seccompFilter ?? []
        let launch: SandboxLaunch
        do throws(SandboxError) {
            if uid == Privileges.nobody { throw SandboxError(layer: "identity", errno: EPERM) }
            launch = try SandboxBuilder.spawn(spec, stdout: outW, stderr: errW, cgroupProcs: cg?.procs.raw)
        } catch {
            outW.close(); errW.close()
            release {}
            Log.warn("run of \(agentID) refused: \(error)")
            return .refused(error)
        }
        outW.close(); errW.close()
        if let why = launch.missingReason { Log.warn("run of \(agentID) without \(why) (sandbox_mode: best_effort)") }
        let layers = launch.achieved.names + (governed != nil && cg != nil ? ["kernel_governed"] : [])
        return .started(SpawnedTool(pid: launch.pid, stdout: outR, stderr: errR, layers: layers, missing: launch.missing.names,
                                    cgroup: cg, release: release))
    }

    /// shell_command: spawned in the sandbox, then watched from the loop until it exits or is killed.
    func shell(_ command: String, _ c: Constraints?, _ limits: ToolLimits, agentID: String, loop: EventLoop,
               killAt: Double, replyBudget: Int, onDone: @escaping (Result) -> Void) -> Launch {
        let tool: SpawnedTool
        switch spawnSandboxed(command, limits, agentID: agentID) {
        case let .failed(why): return .done(failure(why))
        case let .refused(e): return .done(denied(e.description, missing: e.missing.names))
        case let .started(t): tool = t
        }
        let limit = min(limits.outputBytes, c?.outputByteLimit ?? Int.max)
        let cap = min(limit, OutputBudget.rawCapturePerStream)
        let now = Monotonic.now
        let reason = killAt < now + limits.timeoutSeconds
            ? "killed after \(((killAt - now) * 10).rounded() / 10) s, before the reply deadline (time limit \(limits.timeoutSeconds) s)"
            : "killed after \(limits.timeoutSeconds) s"
        let watch = ChildWatch(loop: loop, pid: tool.pid, pipes: [tool.stdout, tool.stderr], caps: [cap, cap], killAt: killAt,
                               killReason: reason, kill: { tool.killAll() }, onExit: { exit in
            var r = Self.shellResult(exit, constraints: c, limit: limit, replyBudget: replyBudget)
            r.sandbox = tool.layers
            r.sandboxMissing = tool.missing
            tool.finish { onDone(r) }
        })
        return .running(watch)
    }

    /// The result of a finished shell run: output decoded, redacted when CONSTRAIN says so, cut to the
    /// agent's limit and to the reply budget, with every cut reported.
    static func shellResult(_ exit: ChildWatch.Exit, constraints c: Constraints?, limit: Int, replyBudget: Int) -> Result {
        var streams: [(String, Bool)] = exit.captures.prefix(2).map { (String(decoding: $0.bytes, as: UTF8.self), $0.truncated) }
        while streams.count < 2 { streams.append(("", false)) }
        for i in 0..<2 {
            if c?.redactOutput == true { streams[i].0 = Redactor.redact(streams[i].0) }
            // Decoding (U+FFFD for bad bytes) and redaction can lengthen the text: the limit is applied again.
            let (s, cut) = OutputBudget.truncate(streams[i].0, bytes: limit)
            streams[i] = (s, streams[i].1 || cut)
        }
        let (out, outCut, err, errCut) = OutputBudget.fit(streams[0].0, streams[1].0, budget: replyBudget)
        let exitCode = exit.status.map(ChildWatch.exitCode) ?? -Int64(SIGKILL)
        var pairs: [(String, JSONValue)] = []
        if let k = exit.killed { pairs.append(("error", .string(k))) }
        pairs += [("executed", .bool(true)), ("exit_code", .integer(.signed(exitCode))), ("stderr", .string(err))]
        if streams[1].1 || errCut { pairs.append(("stderr_truncated", .bool(true))) }
        pairs.append(("stdout", .string(out)))
        if streams[0].1 || outCut { pairs.append(("stdout_truncated", .bool(true))) }
        return Result(json: .object(pairs), executed: true)
    }

    /// Refused at the last step, with the reason: the agent is told DENY_VIOLATION, nothing was written.
    func refused(_ why: String) -> Result {
        var r = failure(why)
        r.refusedToken = "DENY_VIOLATION"
        return r
    }

    func fileWrite(_ path: String, _ contents: String) -> Result {
        if path.hasPrefix("/"), !path.hasPrefix(workspace + "/") { return writableWrite(path, contents) }
        // The workspace (0700, the tool uid's) is entered with the tool user's file-system identity, its parent
        // (the daemon's) with the broker's.
        // Reached through the descriptor path; `workspace` (its name) is what paths are given against.
        let reach = workspaceAccess
        guard let slash = reach.lastIndex(of: "/") else { return failure("workspace: bad path") }
        let parentPath = slash == reach.startIndex ? "/" : String(reach[..<slash])
        let parent = open(parentPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { return failure("workspace: \(String(cString: strerror(errno)))") }
        defer { close(parent) }
        let fsGid = jg_sys_setfsgid(gid)
        let fsUid = jg_sys_setfsuid(uid)
        let dir = openat(parent, String(reach[reach.index(after: slash)...]), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        let dirErrno = errno
        _ = jg_sys_setfsuid(UInt32(fsUid))
        _ = jg_sys_setfsgid(UInt32(fsGid))
        guard dir >= 0 else { return failure("workspace: \(String(cString: strerror(dirErrno)))") }
        defer { close(dir) }
        // Absolute paths are taken relative to the workspace only when they point inside it.
        var rel = path
        if rel.hasPrefix(workspace + "/") { rel = String(rel.dropFirst(workspace.count + 1)) }
        if rel.hasPrefix("/") { return failure("path outside the workspace") }
        return write(beneath: dir, rel, contents, shownAs: workspace + "/" + rel, asked: path)
    }

    /// An absolute path below one of the agent's writable_paths: that directory is opened with the tool
    /// user's file-system identity (so its permissions are the tool user's), the rest resolved beneath it.
    func writableWrite(_ path: String, _ contents: String) -> Result {
        guard let base = writablePaths.filter({ path.hasPrefix($0 + "/") }).max(by: { $0.count < $1.count }) else {
            return failure("path outside the workspace")
        }
        if hiddenPaths.contains(where: { $0 == base || base.hasPrefix($0 + "/") || $0.hasPrefix(base + "/") }) {
            return refused("writable path \(base) holds the daemon's own files")
        }
        let rel = String(path.dropFirst(base.count + 1))
        let oldGid = jg_sys_setfsgid(gid)
        let oldUid = jg_sys_setfsuid(uid)
        let dir = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        let dirErrno = errno
        _ = jg_sys_setfsuid(UInt32(oldUid))
        _ = jg_sys_setfsgid(UInt32(oldGid))
        guard dir >= 0 else { return failure("writable path \(base): \(String(cString: strerror(dirErrno)))") }
        defer { close(dir) }
        return write(beneath: dir, rel, contents, shownAs: base + "/" + rel, asked: path)
    }

    func write(beneath dir: Int32, _ rel: String, _ contents: String, shownAs: String, asked path: String) -> Result {
        // The file is created with the tool user's file-system identity: the broker writes nothing
        // that the agent's own tools could not.
        let oldGid = jg_sys_setfsgid(gid)
        let oldUid = jg_sys_setfsuid(uid)
        // O_NONBLOCK: opening a FIFO the agent's tool made must not wait for a reader. O_TRUNC only after
        // the target proved to be a regular file (truncating anything else is not a file write).
        let fd = jg_sys_openat2_beneath(dir, rel, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0o640)
        let openErrno = errno
        _ = jg_sys_setfsuid(UInt32(oldUid))
        _ = jg_sys_setfsgid(UInt32(oldGid))
        guard fd >= 0 else {
            switch openErrno {
            case ENXIO: return refused("\(path) is not a regular file (a FIFO or socket)")
            case EISDIR: return refused("\(path) is not a regular file (a directory)")
            case ELOOP: return refused("\(path) is not a regular file (a symbolic link, or a path through one)")
            default: break
            }
            return failure("open \(path): \(String(cString: strerror(openErrno)))")
        }
        let f = OwnedFD(adopting: fd)
        var st = stat()
        guard fstat(f.raw, &st) == 0 else { return failure("fstat \(path): \(String(cString: strerror(errno)))") }
        guard st.st_mode & S_IFMT == S_IFREG else { return refused("\(path) is not a regular file") }
        guard ftruncate(f.raw, 0) == 0 else { return failure("truncate \(path): \(String(cString: strerror(errno)))") }
        try? f.setNonBlocking(false)
        let b = Array(contents.utf8)
        do { try f.writeAll(b) } catch { return failure("write \(path): \(error)") }
        return Result(json: .object([("bytes_written", .integer(.signed(Int64(b.count)))), ("executed", .bool(true)),
                                     ("path", .string(shownAs))]), executed: true)
    }
}
