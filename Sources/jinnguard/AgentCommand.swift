import ArgumentParser
import Glibc
import JGIPC
import JGJSON

/// `jinnguard agent …`: operator actions on one agent of the running daemon.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent", abstract: "Operator actions on an agent of the running daemon.",
        subcommands: [ResetCounter.self, AgentRun.self])

    struct ResetCounter: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-counter",
            abstract: "Let the agent start its sequence counters again from 1 (audited).",
            discussion: "Talks to the running daemon over <state-dir>/operator.sock (root only). Exit 0 done, 1 refused, 2 not reachable.")
        @Argument(help: "The agent id.") var agent: String
        @Option(help: "The daemon's state directory (default: ./jinnguard-state, else the installed /var/lib/jinnguard).") var stateDir = InstalledLayout.defaultStateDir()

        func run() throws {
            try OperatorClient.run(stateDir: stateDir, .object([("command", .string("reset-counter")), ("agent", .string(agent))]),
                                   what: "reset-counter \(agent)")
        }
    }
}
