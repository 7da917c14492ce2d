import ArgumentParser
import JGPolicy
import JGProverCore

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "policy", abstract: "Policy tools.", subcommands: [Check.self, Diff.self, PolicyReplayCommand.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load and analyse a policy as the daemon would.",
            discussion: """
            Prints each finding as `file:line: agent 'x': message`. Errors (the daemon would refuse the \
            policy): invariants that can never hold together, invariants that require fused_risk above \
            the global safety ceiling, allowlists the runtime policy makes unusable. Warnings: redundant \
            invariants, invariants the ceiling already implies, likely typos of daemon variables, \
            duplicate entries, agents without invariants.
            Exit codes: 0 loads (warnings allowed), 1 load or analysis errors.
            """)
        @Argument(help: "The policy YAML (default: the installed /etc/jinnguard/policy.yaml).") var file = InstalledLayout.policyFile

        func run() throws {
            let policy: Policy
            let analysis: PolicyAnalysis
            do { (policy, analysis) = try PolicyCheck.analyzeFile(path: file) } catch {
                print("\(error)")
                throw ExitCode(1)
            }
            for f in analysis.errors { print("\(f.formatted(file: file)) [error]") }
            for f in analysis.warnings { print("\(f.formatted(file: file)) [warning]") }
            if !analysis.errors.isEmpty {
                print("\(file): REFUSED, \(analysis.errors.count) error(s), \(analysis.warnings.count) warning(s)")
                throw ExitCode(1)
            }
            print("\(file): OK, \(policy.agents.count) agents, \(policy.agents.reduce(0) { $0 + $1.invariants.count }) invariants, ceiling \(policy.globalSafetyCeiling), \(analysis.warnings.count) warning(s)")
        }
    }

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare what two policies admit, agent by agent, with a counterexample for each difference.",
            discussion: """
            An agent admits the states satisfying all of its invariants and fused_risk <= \
            global_safety_ceiling. For each agent: wider (NEW admits a state OLD denied), narrower (OLD \
            admitted a state NEW denies), both (incomparable) or equivalent, each difference with one \
            concrete state listing every variable involved. Agents only in NEW are added (wider), only \
            in OLD removed (narrower). Allowlists, quotas and runtime_policy are not compared.
            Exit codes: 0 equivalent, 1 narrower, 2 wider, 3 incomparable, 4 error (a file does not \
            load, or Z3 could not decide).
            """)
        @Argument(help: "The old (running) policy YAML.") var old: String
        @Argument(help: "The new policy YAML.") var new: String

        func run() throws {
            let engine = ProverEngine()
            let a: Policy, b: Policy
            do {
                a = try PolicyCheck.load(path: old, engine: engine)
                b = try PolicyCheck.load(path: new, engine: engine)
            } catch {
                print("\(error)")
                throw ExitCode(DiffVerdict.error.rawValue)
            }
            let report = PolicyDiff.diff(old: a, new: b, engine: engine)
            for d in report.agents { print(Self.render(d, old: old, new: new)) }
            if a.globalSafetyCeiling != b.globalSafetyCeiling {
                print("global_safety_ceiling: \(a.globalSafetyCeiling) -> \(b.globalSafetyCeiling)")
            }
            let v = report.verdict
            print("result: \(v) (exit \(v.rawValue))")
            if v != .equivalent { throw ExitCode(v.rawValue) }
        }

        static func render(_ d: AgentDiff, old: String, new: String) -> String {
            let lines = [d.oldLine.map { "\(old):\($0)" }, d.newLine.map { "\(new):\($0)" }].compactMap { $0 }.joined(separator: ", ")
            let head = "agent '\(d.agent)' (\(lines)):"
            func ce(_ c: Counterexample, _ denier: String) -> String {
                let why = c.deniedBy.map { $0 == "global_safety_ceiling" ? "the global safety ceiling" : "\"\($0)\"" }
                return "\(c.description)\n    \(denier) denies it by \(why.joined(separator: ", "))"
            }
            switch d.change {
            case .added: return "\(head) added (only in NEW)"
            case .removed: return "\(head) removed (only in OLD)"
            case .equivalent: return "\(head) equivalent"
            case let .wider(w): return "\(head) wider: NEW admits a state OLD denied: \(ce(w, "OLD"))"
            case let .narrower(n): return "\(head) narrower: NEW denies a state OLD admitted: \(ce(n, "NEW"))"
            case let .incomparable(w, n):
                return "\(head) incomparable\n  wider: NEW admits a state OLD denied: \(ce(w, "OLD"))\n  narrower: NEW denies a state OLD admitted: \(ce(n, "NEW"))"
            case let .failed(why): return "\(head) error: \(why)"
            }
        }
    }
}
