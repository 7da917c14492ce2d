import ArgumentParser
import Glibc
import JGAudit
import JGIPC
import JGSandbox

struct JinnGuard: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jinnguard",
        abstract: "Jinn Guard: decides, executes and audits what AI agents propose.",
        discussion: EnvironmentHelp.overview,
        subcommands: [Run.self, Rendezvous.self, Status.self, Audit.self, PolicyCommand.self, KernelCommand.self, AgentCommand.self,
                      KeyCommand.self, ValidateCommand.self, MCPCommand.self, ApproveCommand.self, RejectCommand.self],
        defaultSubcommand: Run.self)
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start the four components and supervise them (the default).",
                                                    discussion: EnvironmentHelp.run)

    @Option(help: "State directory for everything not given explicitly.") var stateDir = "jinnguard-state"
    @Option(help: "Agent socket path.") var socketPath: String?
    @Option(help: "Socket file mode, e.g. 0660 or 0o660.") var socketMode = "0666"
    @Option(help: "Replay state (last accepted sequence counters).") var lineageFile: String?
    @Option(help: "Audit log (JSON Lines hash chain).") var auditLog: String?
    @Option(help: "Policy YAML.") var policyFile: String?
    @Option(help: "Shared HMAC key file (also JINNGUARD_SECRET_FILE).") var secretFile: String?
    @Option(help: "Previous HMAC key file, accepted until --previous-secret-valid-until.") var previousSecretFile: String?
    @Option(help: "Unix seconds until which the previous key is accepted.") var previousSecretValidUntil: UInt64?
    @Option(help: "Directory of per-agent key files named after agent ids (also JINNGUARD_AGENT_SECRET_DIR; default <state-dir>/agent-keys, written by `jinnguard keys`).") var agentSecretDir: String?
    @Option(help: "Reserved uids for the agents' tools, <first>-<last> (also JINNGUARD_TOOL_UID_RANGE); each agent gets one, kept in <state>/tool-uids.")
    var toolUidRange: String?
    @Option(help: "Agent connections the gate keeps per peer uid (also JINNGUARD_MAX_CONNECTIONS_PER_UID; default 1024).")
    var maxConnectionsPerUid: Int?
    @Option(help: "Agent connections the gate keeps in all (also JINNGUARD_MAX_CONNECTIONS; default 16384).")
    var maxConnections: Int?
    // Set by `jinnguard rendezvous` (Rendezvous.swift), not by operators.
    @Option(help: .hidden) var rendezvous: String?
    @Option(help: .hidden) var generatedSecretFile: String?

    func run() throws {
        Log.name = "jinnguard"
        JournalLogHandler.install(label: Log.name)
        signal(SIGPIPE, SIG_IGN)
        let state = absolute(stateDir)
        let explicitSecret = secretFile ?? getenv("JINNGUARD_SECRET_FILE").map { String(cString: $0) }
        let explicitAgentDir = agentSecretDir ?? getenv("JINNGUARD_AGENT_SECRET_DIR").map { String(cString: $0) }
        do {
            // Each component's own user, and the state directory laid out for them (StateLayout).
            let users = try ComponentUsers.ensure()
            try StateLayout.prepareDirectory(state, broker: users[.broker])
            try makeDir(state + "/empty", 0o555)
            var policyPath = policyFile.map(absolute)
            if policyPath == nil {
                policyPath = state + "/policy.yaml"
                if access(policyPath!, F_OK) != 0 { try writeFile(policyPath!, EmbeddedDefaults.policy) }
            }
            // The gate reads its connection caps from the environment it inherits.
            for (name, v) in [("JINNGUARD_MAX_CONNECTIONS_PER_UID", maxConnectionsPerUid), ("JINNGUARD_MAX_CONNECTIONS", maxConnections)] {
                guard let v else { continue }
                guard v > 0 else { throw Supervisor.StartError(description: "--\(name == "JINNGUARD_MAX_CONNECTIONS" ? "max-connections" : "max-connections-per-uid") must be positive") }
                setenv(name, String(v), 1)
            }
            guard let mode = parseMode(socketMode) else { throw Supervisor.StartError(description: "bad --socket-mode \(socketMode)") }
            var metricsPort: UInt16?
            if let p = getenv("JINNGUARD_METRICS_PORT") {
                guard let v = UInt16(String(cString: p)), v > 0 else {
                    throw Supervisor.StartError(description: "JINNGUARD_METRICS_PORT must be a port number")
                }
                metricsPort = v
            }
            let settings = Supervisor.Settings(
                socketPath: absolute(socketPath ?? state + "/jinnguard.sock"), socketMode: mode,
                lineageFile: absolute(lineageFile ?? state + "/lineage.state"),
                auditLog: absolute(auditLog ?? state + "/audit.jsonl"),
                policyFile: policyPath!, stateDir: state, metricsPort: metricsPort,
                keys: KeyLoader(secretFile: explicitSecret.map(absolute),
                                defaultSecretFile: generatedSecretFile ?? state + "/secret", previousFile: previousSecretFile.map(absolute),
                                previousValidUntil: previousSecretValidUntil,
                                agentDir: absolute(explicitAgentDir ?? state + "/agent-keys"), agentDirIsDefault: explicitAgentDir == nil))
            var supSettings = settings
            if let r = toolUidRange ?? getenv("JINNGUARD_TOOL_UID_RANGE").map({ String(cString: $0) }) {
                do { supSettings.toolUIDRange = try ToolAccounts.parseRange(r) } catch { throw Supervisor.StartError(description: error.description) }
            }
            supSettings.rendezvous = rendezvous
            // The gate names the agent of a peer running in this daemon's agent cgroups (RuntimeIdentity).
            setenv("JINNGUARD_KERNEL_INSTANCE", KernelInstance.name(stateDir: state), 1)
            let sup = Supervisor(settings: supSettings)
            try sup.prepare()
            Log.info("socket \(settings.socketPath), audit log \(settings.auditLog), policy \(settings.policyFile), lineage \(settings.lineageFile)")
            let code = sup.run()
            sup.cleanup()
            if code != 0 { throw ExitCode(code) }
        } catch let e as ExitCode {
            throw e
        } catch {
            Log.error("\(error)")
            throw ExitCode(2)
        }
    }

    func parseMode(_ s: String) -> mode_t? {
        var t = s.lowercased()
        if t.hasPrefix("0o") { t.removeFirst(2) }
        guard let v = UInt32(t, radix: 8), v <= 0o777 else { return nil }
        return mode_t(v)
    }
}

func absolute(_ p: String) -> String {
    if p.hasPrefix("/") { return p }
    var buf = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buf, buf.count) != nil else { return p }
    return CText.string(buf) + "/" + p
}

func makeDir(_ path: String, _ mode: mode_t) throws {
    if mkdir(path, mode) != 0 && errno != EEXIST { throw SystemError("mkdir \(path)") }
}

func writeFile(_ path: String, _ text: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw SystemError("create \(path)") }
    defer { close(fd) }
    let b = Array(text.utf8)
    guard writeFully(fd, b), fsync(fd) == 0 else { throw SystemError("write \(path)") }
}

// `agent run` starts an agent, often many times (an MCP gateway's upstreams): taken before the argument
// parser, whose start-up alone (its type metadata scans) costs more than building the locked runtime. What
// the hand parser does not take (--help, a bad option) goes to the argument parser as before.
if CommandLine.arguments.count > 2, CommandLine.arguments[1] == "agent", CommandLine.arguments[2] == "run",
   case let .run(request) = LockedAgentArguments.parse(Array(CommandLine.arguments.dropFirst(3))) {
    exit(LockedAgentRun.run(request))
}
CommandLine.exitWithParsedCommand(JinnGuard.self)
