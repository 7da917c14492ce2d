import ArgumentParser
import Glibc
import JGIPC

/// Help text naming every environment variable the commands read, and the exit codes.
enum EnvironmentHelp {
    static let variables = """
    ENVIRONMENT (jinnguard run):
      JINNGUARD_METRICS_PORT             serve GET /metrics and GET /healthz on 127.0.0.1:<port>
      JINNGUARD_SECRET_FILE              the shared HMAC key file (as --secret-file)
      JINN_GUARD_SECRET                  the shared HMAC key itself, when no file and no kernel keyring key
                                         (user key jinnguard_hmac_key) is there
      JINNGUARD_AGENT_SECRET_DIR         the per-agent key directory (as --agent-secret-dir)
      JINNGUARD_TOOL_UID_RANGE           reserved uids of the agents' tools (as --tool-uid-range)
      JINNGUARD_MAX_CONNECTIONS_PER_UID  agent connections per peer uid (as --max-connections-per-uid)
      JINNGUARD_MAX_CONNECTIONS          agent connections in all (as --max-connections)
      JINNGUARD_BPF_DIR                  where jg-kernel finds the BPF objects (default: bpf/ next to the binaries)
      JINNGUARD_CHECKPOINT_EVERY         audit records between signed checkpoints (tests)
      JINNGUARD_GATE_HELD_RECORDS        lowers the gate's held-record bound (tests)
    Agents (the Python SDK, clients/python): JINN_GUARD_SOCKET or JINNGUARD_SOCKET (socket path),
      JINN_GUARD_SECRET, JINN_GUARD_SECRET_FILE or JINNGUARD_SECRET_FILE (key), JINN_AGENT_ID (agent id).
    """

    static let exitCodes = """
    EXIT CODES: 0 success; 1 the check failed or the request was refused; 2 bad arguments, a missing file or an
    unreachable daemon (each command's help says more).
    """

    static let overview = variables + "\n" + exitCodes

    static let run = """
    With no flags everything lives in ./jinnguard-state: policy.yaml (the embedded example policy), a generated \
    secret, the socket jinnguard.sock, audit.jsonl, lineage.state, agent-keys/.

    """ + variables + """

    EXIT CODES: 0 stopped by SIGTERM/SIGINT; 1 the components did not become ready or one refused its configuration;
    2 a start-up check failed (one line says which).
    """
}

extension CommandLine {
    /// ArgumentParser exits 64 on a usage error; ours is 2, with one line, like every other refusal.
    static func exitWithParsedCommand<C: ParsableCommand>(_: C.Type) -> Never {
        do {
            var command = try C.parseAsRoot()
            try command.run()
            exit(0)
        } catch {
            // A command's own exit status (`agent run` passes CMD's on, 0 included): nothing to print.
            if let e = error as? ExitCode { exit(e.rawValue) }
            let code = C.exitCode(for: error)
            if code == .success {
                // --help, --version: the full text.
                print(C.fullMessage(for: error))
                exit(0)
            }
            let message = C.message(for: error)
            guard code == .validationFailure else {
                if !message.isEmpty { StandardError.write("jinnguard: \(message)\n") }
                exit(code.rawValue)
            }
            // A usage error: one line, exit 2.
            let first = message.split(separator: "\n").first.map(String.init) ?? "bad arguments"
            StandardError.write("jinnguard: \(first) (see --help)\n")
            exit(2)
        }
    }
}
