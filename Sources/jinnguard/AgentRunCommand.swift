import ArgumentParser
import Glibc
import JGIPC
import JGSandbox

/// The confined program, for the signal handlers: SIGINT/SIGTERM/SIGHUP/SIGQUIT are passed on to it.
nonisolated(unsafe) private var lockedChild: pid_t = 0

/// `jinnguard agent run --agent ID … -- CMD [ARGS…]`: runs CMD locked (LockedAgent, SandboxBuilder), its
/// only way out the Jinn Guard socket, in a cgroup of the agent's that jg-kernel governs. Non-interactive
/// use works over pipes: CMD's stdin, stdout and stderr are this command's. CMD's exit status is ours;
/// a layer that cannot be applied stops the start with one line and exit 125 (unless --best-effort).
struct AgentRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run CMD as a locked agent whose only way out is the Jinn Guard socket.",
        discussion: """
            Inside: new user, mount, pid, net (lo only), ipc, uts and cgroup namespaces; a minimal root (system \
            directories read-only, /etc without secrets, the workspace read-write, private /tmp and /run); the \
            socket at /run/jinnguard/jinnguard.sock and the key at /run/jinnguard/secret; no capabilities, \
            no_new_privs, Landlock, a seccomp filter (AF_UNIX sockets only), rlimits, a new session. As root, the \
            agent runs as its tool uid in its workspace (<state-dir>/workspace/<agent>), where brokered file \
            writes land. Exit status: CMD's; 125 when the runtime could not start it.
            """)

    @Option(help: "The agent id (its policy entry, cgroup and workspace).") var agent: String
    @Option(help: "The daemon's socket (default <state-dir>/jinnguard.sock).") var socket: String?
    @Option(help: "The agent's key file (default <state-dir>/secret); shown inside only, at /run/jinnguard/secret.")
    var secretFile: String?
    @Option(help: "The read-write workspace and start directory (default, as root: the agent's broker workspace).")
    var workspace: String?
    @Option(name: .customLong("read-only"), help: "A host path shown read-only at the same path (repeatable).")
    var readOnly: [String] = []
    @Option(help: "NAME=VALUE added to CMD's environment (repeatable).") var env: [String] = []
    @Option(help: "The daemon's state directory.") var stateDir = "jinnguard-state"
    @Option(help: "UID[:GID] to run as (default: yours; as root: the agent's tool uid).") var uid: String?
    @Flag(help: "Start even when a layer cannot be applied (say which on stderr).") var bestEffort = false
    @Argument(parsing: .captureForPassthrough, help: "-- CMD [ARGS…]") var command: [String] = []

    static let startFailure: Int32 = 125

    func fail(_ message: String) -> ExitCode {
        let line = "jinnguard agent run: \(message)\n"
        _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
        return ExitCode(Self.startFailure)
    }

    func run() throws {
        var cmd = command
        if cmd.first == "--" { cmd.removeFirst() }
        guard let program = cmd.first else { throw fail("no command given (… -- CMD [ARGS…])") }
        guard LockedAgent.validAgentID(agent) else { throw fail("agent id '\(agent)' cannot name a locked runtime") }
        let state = absolute(stateDir)
        let isRoot = geteuid() == 0
        let name = ToolAccounts.directoryName(agent)

        // Who: the caller, or as root the agent's tool uid (then the broker's workspace is the agent's own).
        var ids: (UInt32, UInt32)
        if let u = uid {
            let parts = u.split(separator: ":", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let a = UInt32(parts[0]), let b = UInt32(parts.count == 2 ? parts[1] : parts[0]) else {
                throw fail("--uid wants UID[:GID], got '\(u)'")
            }
            ids = (a, b)
        } else if !isRoot {
            ids = (getuid(), getgid())
        } else if let t = Self.toolUID(state: state, name: name) {
            ids = (t, t)
        } else {
            throw fail("no tool uid for \(agent) in \(state)/tool-uids (is the daemon running with --state-dir \(stateDir)?); give --uid")
        }
        guard ids.0 != 0, ids.1 != 0 else { throw fail("a locked agent never runs as root") }
        if !isRoot && (ids.0 != getuid() || ids.1 != getgid()) { throw fail("only root may run an agent as another uid") }
        var ws = workspace.map(absolute)
        if ws == nil {
            guard isRoot else { throw fail("give --workspace DIR (the broker's workspace of \(agent) is reachable by root only)") }
            ws = state + "/workspace/" + name
        }
        guard let wsPath = ws, Self.isDirectory(wsPath) || !isRoot else { throw fail("workspace \(ws ?? ""): not a directory") }

        let socketPath = absolute(socket ?? state + "/jinnguard.sock")
        let secretPath = absolute(secretFile ?? state + "/secret")
        guard let secret = Self.readKey(secretPath) else {
            throw fail("cannot read the key \(secretPath): \(String(cString: strerror(errno)))")
        }
        guard let exe = Self.resolve(program) else { throw fail("\(program): command not found") }

        var o = LockedAgent.Options(agent: agent, socket: socketPath, secret: secret, workspace: wsPath, executable: exe,
                                    arguments: cmd, uid: ids.0, gid: ids.1)
        o.readOnly = readOnly.map(absolute)
        o.environment = env
        o.bestEffort = bestEffort
        o.hidden = [state]
        let filter: [UInt8]
        do { filter = try Seccomp.exportLocked(SeccompProfiles.locked) } catch { throw fail("seccomp: \(error)") }
        var spec: SandboxSpec
        do { spec = try LockedAgent.spec(o, seccompFilter: filter) } catch { throw fail(error.description) }

        // The agent's governed cgroup, made by jg-kernel; ours below it is what the gate knows the agent by.
        let cgroup = LockedCgroup(stateDir: state, agent: agent)
        if cgroup == nil && !bestEffort {
            throw fail("sandbox layer cgroup: cannot make a cgroup below the agent's governed one (\(LockedCgroup.lastProblem)); is the daemon running on this --state-dir, and are you root?")
        }
        if cgroup == nil {
            spec.layers.remove(.cgroup)
            _ = fail("started without cgroup: \(LockedCgroup.lastProblem) (no kernel plane, no identity from the runtime)")
        }
        defer { cgroup?.remove() }

        let launch: SandboxLaunch
        // Our own stdout and stderr, lent: they stay open here (released, never closed, after the spawn).
        let out = OwnedFD(adopting: 1), err = OwnedFD(adopting: 2)
        defer { _ = out.release(); _ = err.release() }
        do {
            launch = try SandboxBuilder.spawn(spec, stdout: out, stderr: err, cgroupProcs: cgroup?.procs.raw,
                                              cgroupDirectory: cgroup?.directory.raw)
        } catch {
            throw fail("\(error)" + (error.layer == "fork" || error.layer == "exec" ? "" : " (--best-effort starts without it)"))
        }
        if let why = launch.missingReason { _ = fail("started without \(why)") }
        lockedChild = launch.pid
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
            signal(sig) { s in if lockedChild > 0 { kill(lockedChild, s) } }
        }
        var status: Int32 = 0
        while waitpid(launch.pid, &status, 0) < 0 && errno == EINTR {}
        lockedChild = 0
        cgroup?.remove()
        // WIFEXITED / WTERMSIG by hand: Glibc's macros do not import.
        let sig = status & 0x7f
        if sig == 0 { throw ExitCode((status >> 8) & 0xff) }
        throw ExitCode(128 + sig)
    }

    static func isDirectory(_ p: String) -> Bool {
        var st = stat()
        return stat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// `<uid> <name>` lines kept by the supervisor (ToolAccounts).
    static func toolUID(state: String, name: String) -> UInt32? {
        guard let bytes = Files.read(state + "/tool-uids", limit: 1 << 20) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2, f[1] == Substring(name), let u = UInt32(f[0]), u != 0 { return u }
        }
        return nil
    }

    /// The key as the SDKs read it: the file's bytes (they strip whitespace themselves).
    static func readKey(_ path: String) -> [UInt8]? {
        guard let b = Files.read(path, limit: 65536), !b.isEmpty, b.count <= 65536 else { return nil }
        return b
    }

    static func resolve(_ program: String) -> String? {
        if program.contains("/") { return access(program, X_OK) == 0 ? absolute(program) : nil }
        for dir in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] where access(dir + "/" + program, X_OK) == 0 {
            return dir + "/" + program
        }
        return nil
    }
}

/// `<cgroup2>/jinnguard/<instance>/agents/<agent>/locked-<pid>`: below the agent's governed cgroup, so the
/// kernel plane's rules and telemetry cover the agent, and named so that the gate knows it (RuntimeIdentity).
final class LockedCgroup {
    let path: String
    let procs: OwnedFD
    /// The directory itself: the agent is started in it (SandboxBuilder's cgroupDirectory).
    let directory: OwnedFD
    nonisolated(unsafe) static var lastProblem = ""

    init?(stateDir: String, agent: String) {
        guard let root = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"].first(where: { access($0 + "/cgroup.controllers", F_OK) == 0 }) else {
            Self.lastProblem = "no cgroup v2 mount"
            return nil
        }
        let parent = root + "/jinnguard/" + KernelInstance.name(stateDir: stateDir) + "/agents/" + agent
        path = parent + "/" + LockedAgent.cgroupPrefix + String(getpid())
        guard mkdir(path, 0o755) == 0 else { Self.lastProblem = "\(path): \(String(cString: strerror(errno)))"; return nil }
        let fd = open(path + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { Self.lastProblem = "\(path)/cgroup.procs: \(String(cString: strerror(errno)))"; rmdir(path); return nil }
        let dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { Self.lastProblem = "\(path): \(String(cString: strerror(errno)))"; close(fd); rmdir(path); return nil }
        procs = OwnedFD(adopting: fd)
        directory = OwnedFD(adopting: dir)
    }

    /// Whatever the agent left behind is killed with it.
    func remove() {
        procs.close()
        directory.close()
        if rmdir(path) == 0 || errno == ENOENT { return }
        let k = open(path + "/cgroup.kill", O_WRONLY | O_CLOEXEC)
        if k >= 0 { _ = Glibc.write(k, "1", 1); close(k) }
        // Killed processes leave the cgroup within a scheduling round or two.
        for _ in 0..<2000 {
            if rmdir(path) == 0 || errno == ENOENT { return }
            usleep(500)
        }
    }
}
