import ArgumentParser
import Glibc
import JGIPC
import JGSandbox

/// `jinnguard agent run --agent ID … -- CMD [ARGS…]`: runs CMD locked (LockedAgentRun, SandboxBuilder), its
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
            writes land. Exit status: CMD's; 125 when the runtime could not start it. `jg-agent-run` (next to \
            this binary) takes the same options and starts faster (without the operator command's libraries).
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

    func run() throws {
        var r = LockedAgentRun.Request()
        r.agent = agent
        r.socket = socket
        r.secretFile = secretFile
        r.workspace = workspace
        r.readOnly = readOnly
        r.env = env
        r.stateDir = stateDir
        r.uid = uid
        r.bestEffort = bestEffort
        r.command = command
        throw ExitCode(LockedAgentRun.run(r))
    }
}
