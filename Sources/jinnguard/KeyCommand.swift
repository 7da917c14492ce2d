import ArgumentParser
import Glibc
import JGJSON

/// `jinnguard keys issue|rotate`: per-agent HMAC keys for the users who run the agents.
struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Per-agent keys for ordinary users (audited).",
        discussion: """
        Keys live in the running daemon's per-agent key directory (--agent-secret-dir, also
        JINNGUARD_AGENT_SECRET_DIR; default <state-dir>/agent-keys), one file per agent id, owned by the user \
        who runs that agent and readable by that user only (0400). An agent with a key file must sign with it.
        The daemon writes the file, puts the key in force and audits it (KeyIssued, KeyRotated) before this \
        command returns. Root only (over <state-dir>/operator.sock).
        Exit codes: 0 done, 1 refused (the reason is printed), 2 bad arguments or daemon not reachable.
        """,
        subcommands: [Issue.self, Rotate.self])

    struct Target: ParsableArguments {
        @Option(help: "The agent id (as in the policy).") var agent: String
        @Option(help: "The user who runs the agent: a name or a numeric uid. Only this user can read the key.") var user: String
        @Option(help: "The running daemon's state directory.") var stateDir = "jinnguard-state"

        func resolve() throws -> (UInt32, UInt32) {
            if let pw = getpwnam(user) { return (pw.pointee.pw_uid, pw.pointee.pw_gid) }
            if let uid = UInt32(user) {
                if let pw = getpwuid(uid) { return (uid, pw.pointee.pw_gid) }
                return (uid, uid)
            }
            throw ValidationError("no such user: \(user)")
        }

        func send(_ action: String, extra: [(String, JSONValue)] = []) throws {
            let (uid, gid) = try resolve()
            let body: JSONValue = .object([("command", .string("keys")), ("action", .string(action)), ("agent", .string(agent)),
                                           ("uid", .integer(.unsigned(UInt64(uid)))), ("gid", .integer(.unsigned(UInt64(gid))))] + extra)
            switch OperatorClient.request(stateDir: stateDir, body) {
            case let .unreachable(why):
                print("jinnguard: \(why)")
                throw ExitCode(2)
            case let .answered(ok, message):
                print("jinnguard: keys \(action) \(agent): \(message)")
                if !ok { throw ExitCode(1) }
            }
        }
    }

    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a fresh key for the agent, readable by --user only; any earlier key of the agent stops at once.")
        @OptionGroup var target: Target
        func run() throws { try target.send("issue") }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the agent's key; the previous one is still accepted for --grace-seconds (default 86400).")
        @OptionGroup var target: Target
        @Option(help: "How long the previous key stays accepted, in seconds.") var graceSeconds: UInt64 = 86400
        func run() throws { try target.send("rotate", extra: [("grace_seconds", .integer(.unsigned(graceSeconds)))]) }
    }
}
