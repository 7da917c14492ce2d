import CJGSys
import Glibc
import JGIPC

/// THE place the gateway starts a stdio upstream MCP server. Today a plain child of the gateway with
/// its stdin/stdout on pipes (stderr inherited, so the server's logs reach the client's log as usual).
/// Once `jinnguard agent run` (the locked agent, built by JGSandbox's SandboxBuilder) is on main, `argv`
/// becomes `[jinnguard, agent, run, --agent, ID, --, argv…]` here and nowhere else: the upstream then runs
/// confined like any locked agent, and its pipes stay the gateway's.
enum UpstreamLauncher {
    struct Child {
        var pid: pid_t
        /// The upstream's stdin (we write) and stdout (we read).
        var toChild: OwnedFD
        var fromChild: OwnedFD
    }

    struct LaunchError: Error, CustomStringConvertible { var description: String }

    static func launch(_ argv: [String], agent: String) throws(LaunchError) -> Child {
        guard !argv.isEmpty else { throw LaunchError(description: "no upstream command after --") }
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
