import CJGSys
import Glibc
import JGIPC

/// THE place the gateway starts a stdio upstream MCP server: by default inside `jinnguard agent run` (a locked
/// agent built by JGSandbox's SandboxBuilder: no network but its own lo, the system read-only, its workspace,
/// the Jinn Guard socket), with `--unconfined-upstream` as a plain child. Either way its stdin/stdout are the
/// gateway's pipes and its stderr is inherited (the server's logs reach the client's). Besides the given
/// --upstream-read-only paths the locked upstream sees its interpreter's tree and the files its command line
/// names (exposedPaths), which agent run, as root, takes before it drops to the agent's uid: an interpreter
/// below a private directory (a pyenv Python under /root, 0700) works confined.
enum UpstreamLauncher {
    struct Child {
        var pid: pid_t
        /// The upstream's stdin (we write) and stdout (we read).
        var toChild: OwnedFD
        var fromChild: OwnedFD
    }

    struct LaunchError: Error, CustomStringConvertible { var description: String }

    /// How the upstream is confined: as a locked agent (`jinnguard agent run`, the default), or not at all.
    struct Confinement {
        var locked = false
        var socket: String
        var secretFile: String?
        var stateDir: String?
        var readOnly: [String] = []
        var env: [String] = []
        var bestEffort = false
    }

    /// `jinnguard agent run … -- argv` (or the faster `jg-agent-run` next to this binary, same options).
    static func lockedArgv(_ argv: [String], agent: String, _ c: Confinement) -> [String] {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        let me = n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "jinnguard"
        let dir = me.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        var out = access(dir + "/jg-agent-run", X_OK) == 0 ? [dir + "/jg-agent-run"] : [me, "agent", "run"]
        out += ["--agent", agent, "--socket", c.socket]
        if let k = c.secretFile { out += ["--secret-file", k] }
        if let s = c.stateDir { out += ["--state-dir", s] }
        var seen = Set<String>()
        for p in c.readOnly + exposedPaths(argv) where seen.insert(p).inserted { out += ["--read-only", p] }
        for e in c.env { out += ["--env", e] }
        if c.bestEffort { out.append("--best-effort") }
        return out + ["--"] + argv
    }

    /// Directories the locked view binds from the host anyway (SandboxSpec.defaultSystemPaths).
    static let systemPrefixes = ["/usr/", "/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/libx32/", "/etc/"]

    /// What the upstream's command needs to run confined: the interpreter's tree (the directory above its
    /// bin/, or its own directory) when it lives outside the system directories, and every absolute argument
    /// that names an existing file (the server script). The program itself is made absolute beforehand.
    static func exposedPaths(_ argv: [String]) -> [String] {
        var out: [String] = []
        if let exe = argv.first, let real = realPath(exe), !systemPrefixes.contains(where: { real.hasPrefix($0) }) {
            var parts = real.split(separator: "/").map(String.init)
            parts.removeLast()
            if parts.last == "bin", parts.count > 1 { parts.removeLast() }
            if !parts.isEmpty { out.append("/" + parts.joined(separator: "/")) }
        }
        for a in argv.dropFirst() where a.hasPrefix("/") && !a.split(separator: "/").contains("..") {
            var st = stat()
            if stat(a, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && !out.contains(where: { a.hasPrefix($0 + "/") }) { out.append(a) }
        }
        return out
    }

    static func realPath(_ p: String) -> String? {
        guard let r = realpath(p, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }

    /// A program name without a slash, found on the gateway's PATH (agent run searches only the system
    /// directories, where a user's interpreter may not be).
    static func onPath(_ program: String) -> String {
        guard !program.contains("/"), let path = getenv("PATH").map({ String(cString: $0) }) else { return program }
        for dir in path.split(separator: ":") where dir.hasPrefix("/") {
            let candidate = dir + "/" + program
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return program
    }

    static func launch(_ upstreamArgv: [String], agent: String, confinement: Confinement? = nil) throws(LaunchError) -> Child {
        guard !upstreamArgv.isEmpty else { throw LaunchError(description: "no upstream command after --") }
        var resolved = upstreamArgv
        resolved[0] = onPath(resolved[0])
        let argv = confinement.map { $0.locked ? lockedArgv(resolved, agent: agent, $0) : upstreamArgv } ?? upstreamArgv
        var inPipe: [Int32] = [-1, -1]
        var outPipe: [Int32] = [-1, -1]
        guard jg_sys_pipe_cloexec(&inPipe) == 0 else { throw LaunchError(description: "pipe: \(String(cString: strerror(errno)))") }
        guard jg_sys_pipe_cloexec(&outPipe) == 0 else {
            close(inPipe[0]); close(inPipe[1])
            throw LaunchError(description: "pipe: \(String(cString: strerror(errno)))")
        }
        let childIn = OwnedFD(adopting: inPipe[0]), toChild = OwnedFD(adopting: inPipe[1])
        let fromChild = OwnedFD(adopting: outPipe[0]), childOut = OwnedFD(adopting: outPipe[1])
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 onto 0 and 1 clears close-on-exec there; every other descriptor of ours stays closed in the child.
        posix_spawn_file_actions_adddup2(&actions, childIn.raw, 0)
        posix_spawn_file_actions_adddup2(&actions, childOut.raw, 1)
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cargs.append(nil)
        defer { for p in cargs { free(p) } }
        var pid: pid_t = 0
        // The child's ends must stay open until the spawn has dup'ed them: an optimised build would otherwise
        // release (close) them right after their last mention above.
        let rc = withExtendedLifetime((childIn, childOut)) { posix_spawnp(&pid, argv[0], &actions, nil, cargs, environ) }
        guard rc == 0 else { throw LaunchError(description: "cannot start upstream \(argv[0]): \(String(cString: strerror(rc)))") }
        childIn.close()
        childOut.close()
        return Child(pid: pid, toChild: toChild, fromChild: fromChild)
    }
}
