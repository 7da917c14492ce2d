import ArgumentParser
import JGIPC
import JGPolicy
import JGPolicyYAML

/// `jinnguard policy replay --policy NEW AUDIT_LOG` (PolicyReplay): what a new policy would change.
struct PolicyReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Show which recorded decisions a new policy would decide differently.",
        discussion: """
            Re-derives the policy's own verdict (agent, allowed intents, invariants over the recorded risk scores, \
            ceiling, approval, band) for each decision in the audit log. Exit 0 none would change, 1 some would, \
            2 the policy or log cannot be read.
            """)
    @Option(help: "The new policy YAML.") var policy: String
    @Argument(help: "The audit log (JSON Lines).") var auditLog: String

    func run() throws {
        guard let text = Files.readText(policy, limit: 16 << 20) else { print("jinnguard: cannot read \(policy)"); throw ExitCode(2) }
        let p: Policy
        do { p = try PolicyLoader.load(text: text, sourceName: policy) } catch { print("jinnguard: \(error.description)"); throw ExitCode(2) }
        guard let log = Files.readText(auditLog, limit: 1 << 30) else { print("jinnguard: cannot read \(auditLog)"); throw ExitCode(2) }
        var seen = 0, changed = 0, undecidable = 0
        for line in log.split(separator: "\n") {
            guard let r = PolicyReplay.recorded(String(line)) else { continue }
            seen += 1
            switch PolicyReplay.evaluate(r, policy: p) {
            case let .verdict(v) where v != r.verdict:
                changed += 1
                print("#\(r.index) \(r.agent) \(r.intent ?? "-"): \(r.verdict) -> \(v)")
            case .verdict: break
            case let .undecidable(why):
                undecidable += 1
                print("#\(r.index) \(r.agent) \(r.intent ?? "-"): \(r.verdict) -> ? (\(why))")
            }
        }
        print("\(changed) of \(seen) replayable decisions would change, \(undecidable) undecidable from the record")
        if changed > 0 { throw ExitCode(1) }
    }
}
