import Glibc
import JGIPC

/// The procedure behind `jinnguard agent run` (and its lean twin `jg-agent-run`, which starts without the
/// operator command's libraries): pick the identity and workspace, read the key, make the agent's cgroup,
/// start CMD through LockedAgent and SandboxBuilder, pass signals on, wait, clean up.
public enum LockedAgentRun {
    /// What the command line asked for (both entry points parse into this).
    public struct Request: Sendable {
        public var agent = ""
        public var socket: String?
        public var secretFile: String?
        public var workspace: String?
        public var readOnly: [String] = []
        public var env: [String] = []
        public var stateDir = "jinnguard-state"
        public var uid: String?
        public var bestEffort = false
        public var command: [String] = []
        public init() {}
    }

    /// Exit status when the runtime itself could not start CMD.
    public static let startFailure: Int32 = 125

    public struct Failure: Error, Sendable {
        public var message: String
    }

    static func say(_ message: String) {
        let line = "jinnguard agent run: \(message)\n"
        _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
    }

    /// Runs CMD locked; returns CMD's exit status (128+N for signal N), or startFailure after one line on stderr.
    public static func run(_ r: Request) -> Int32 {
        do { return try launch(r) } catch {
            say(error.message)
            return startFailure
        }
    }

    static func launch(_ r: Request) throws(Failure) -> Int32 {
        func fail(_ m: String) -> Failure { Failure(message: m) }
        var cmd = r.command
        if cmd.first == "--" { cmd.removeFirst() }
        guard let program = cmd.first else { throw fail("no command given (… -- CMD [ARGS…])") }
        guard LockedAgent.validAgentID(r.agent) else { throw fail("agent id '\(r.agent)' cannot name a locked runtime") }
        let state = absolute(r.stateDir)
        let isRoot = geteuid() == 0
        // A valid locked agent id is a plain name: its workspace directory and tool-uid entry are named by it.
        let name = r.agent

        // Who: the caller, or as root the agent's tool uid (then the broker's workspace is the agent's own).
        var ids: (UInt32, UInt32)
        if let u = r.uid {
            let parts = u.split(separator: ":", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let a = UInt32(parts[0]), let b = UInt32(parts.count == 2 ? parts[1] : parts[0]) else {
                throw fail("--uid wants UID[:GID], got '\(u)'")
            }
            ids = (a, b)
        } else if !isRoot {
            ids = (getuid(), getgid())
        } else if let t = toolUID(state: state, name: name) {
            ids = (t, t)
        } else {
            throw fail("no tool uid for \(r.agent) in \(state)/tool-uids (is the daemon running with --state-dir \(r.stateDir)?); give --uid")
        }
        guard ids.0 != 0, ids.1 != 0 else { throw fail("a locked agent never runs as root") }
        if !isRoot && (ids.0 != getuid() || ids.1 != getgid()) { throw fail("only root may run an agent as another uid") }
        var ws = r.workspace.map(absolute)
        if ws == nil {
            guard isRoot else { throw fail("give --workspace DIR (the broker's workspace of \(r.agent) is reachable by root only)") }
            ws = state + "/workspace/" + name
        }
        guard let wsPath = ws, isDirectory(wsPath) || !isRoot else { throw fail("workspace \(ws ?? ""): not a directory") }

        let socketPath = absolute(r.socket ?? state + "/jinnguard.sock")
        let secretPath = absolute(r.secretFile ?? state + "/secret")
        guard let secret = Files.read(secretPath, limit: 65536), !secret.isEmpty else {
            throw fail("cannot read the key \(secretPath): \(String(cString: strerror(errno)))")
        }
        guard let exe = resolve(program) else { throw fail("\(program): command not found") }

        var o = LockedAgent.Options(agent: r.agent, socket: socketPath, secret: secret, workspace: wsPath, executable: exe,
                                    arguments: cmd, uid: ids.0, gid: ids.1)
        o.readOnly = r.readOnly.map(absolute)
        o.environment = r.env
        o.bestEffort = r.bestEffort
        o.hidden = [state]
        let filter: [UInt8]
        do { filter = try Seccomp.exportLocked(SeccompProfiles.locked) } catch { throw fail("seccomp: \(error)") }
        var spec: SandboxSpec
        do { spec = try LockedAgent.spec(o, seccompFilter: filter) } catch { throw fail(error.description) }

        // The agent's governed cgroup, made by jg-kernel; ours below it is what the gate knows the agent by.
        var problem = ""
        let cgroup = LockedCgroup(stateDir: state, agent: r.agent, problem: &problem)
        if cgroup == nil && !r.bestEffort {
            throw fail("sandbox layer cgroup: cannot make a cgroup below the agent's governed one (\(problem)); is the daemon running on this --state-dir, and are you root?")
        }
        if cgroup == nil {
            spec.layers.remove(.cgroup)
            say("started without cgroup: \(problem) (no kernel plane, no identity from the runtime)")
        }
        defer { cgroup?.remove() }

        let started: SandboxLaunch
        // Our own stdout and stderr, lent: they stay open here (released, never closed, after the spawn).
        let out = OwnedFD(adopting: 1), err = OwnedFD(adopting: 2)
        defer { _ = out.release(); _ = err.release() }
        // The signals passed on to the agent, and SIGCHLD, are taken with sigwaitinfo from before the spawn
        // (the builder's child unblocks everything), so none is lost between the spawn and the wait.
        var waited = sigset_t(), previous = sigset_t()
        sigemptyset(&waited)
        for s in forwardedSignals + [SIGCHLD] { sigaddset(&waited, s) }
        sigprocmask(SIG_BLOCK, &waited, &previous)
        defer { sigprocmask(SIG_SETMASK, &previous, nil) }
        do {
            started = try SandboxBuilder.spawn(spec, stdout: out, stderr: err, cgroupProcs: cgroup?.procs.raw,
                                               cgroupDirectory: cgroup?.directory.raw)
        } catch {
            throw fail("\(error)" + (error.layer == "fork" || error.layer == "exec" ? "" : " (--best-effort starts without it)"))
        }
        if let why = started.missingReason { say("started without \(why)") }
        var status: Int32 = 0
        var ending: Int32 = 0
        while true {
            let w = waitpid(started.pid, &status, WNOHANG)
            if w == started.pid || (w < 0 && errno != EINTR) { break }
            var info = siginfo_t()
            let s = sigwaitinfo(&waited, &info)
            if s <= 0 || s == SIGCHLD { continue }
            if let e = SignalForwarding.forward(s, runtime: started.pid) { ending = e }
        }
        // WIFEXITED / WTERMSIG by hand: Glibc's macros do not import.
        let sig = status & 0x7f
        // An agent ended for a signal it had left at its default action was killed on its behalf (SIGKILL):
        // its status is that signal's, as for any process.
        if sig == SIGKILL && ending != 0 { return 128 + ending }
        return sig == 0 ? (status >> 8) & 0xff : 128 + sig
    }

    /// Passed on to the agent (its exit status then tells which ended it).
    public static let forwardedSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH]

    static func absolute(_ p: String) -> String {
        if p.hasPrefix("/") { return p }
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, buf.count) != nil else { return p }
        return CText.string(buf) + "/" + p
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

    init?(stateDir: String, agent: String, problem: inout String) {
        guard let root = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"].first(where: { access($0 + "/cgroup.controllers", F_OK) == 0 }) else {
            problem = "no cgroup v2 mount"
            return nil
        }
        let parent = root + "/jinnguard/" + KernelInstance.name(stateDir: stateDir) + "/agents/" + agent
        path = parent + "/" + LockedAgent.cgroupPrefix + String(getpid())
        guard mkdir(path, 0o755) == 0 else { problem = "\(path): \(String(cString: strerror(errno)))"; return nil }
        let fd = open(path + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { problem = "\(path)/cgroup.procs: \(String(cString: strerror(errno)))"; rmdir(path); return nil }
        let dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { problem = "\(path): \(String(cString: strerror(errno)))"; close(fd); rmdir(path); return nil }
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
