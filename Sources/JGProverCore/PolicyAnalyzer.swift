import CZ3
import JGPolicy

/// One analysis result, anchored to a policy-file line.
public struct Finding: Sendable, Equatable, CustomStringConvertible {
    /// The agent concerned; nil for policy-wide findings.
    public var agent: String?
    public var line: Int
    public var message: String
    public init(agent: String?, line: Int, message: String) {
        self.agent = agent
        self.line = line
        self.message = message
    }

    /// `file:line: agent 'x': message` (or `file:line: message` for policy-wide findings).
    public func formatted(file: String) -> String {
        if let agent { return "\(file):\(line): agent '\(agent)': \(message)" }
        return "\(file):\(line): \(message)"
    }

    public var description: String { formatted(file: "policy") }
}

public struct PolicyAnalysis: Sendable {
    /// Findings that make the policy unusable as written (the daemon refuses it).
    public var errors: [Finding]
    /// Findings worth a look that do not stop the policy from loading.
    public var warnings: [Finding]
    public init(errors: [Finding] = [], warnings: [Finding] = []) {
        self.errors = errors
        self.warnings = warnings
    }
}

/// Static analysis of a policy (DESIGN.md §5), modelled on Cedar's analyzer: per agent, invariants
/// that can never hold together (vacuous agent, minimal conflicting set), invariants the others
/// imply (redundant), invariants the global ceiling makes moot or impossible, likely typos of
/// daemon-authoritative names, and allowlists that contradict the runtime policy.
///
/// Every question is asked of Z3 over the daemon's background facts (`Z3Session.genericAxioms`
/// plus per-agent facts), so a state that cannot happen is never reported.
public enum PolicyAnalyzer {
    /// The variables the daemon computes itself (PROTOCOL.md §6.3); callers can never set them.
    public static let authoritativeVariables: [String] = [
        "fused_risk", "trust_score", "observed_risk", "semantic_risk", "topology_risk", "is_root",
        "privilege_tier", "decisions_seen", "max_assessed_risk", "privilege_escalation_depth",
    ]

    public static func analyze(_ p: Policy, engine: ProverEngine? = nil) -> PolicyAnalysis {
        var out = PolicyAnalysis()
        let lines = SourceLines(p.sourceText)
        policyWide(p, lines, &out)
        let session = Z3Session(engine: engine)
        let solver: Z3Solver
        do {
            solver = try session.makeSolver()
            try solver.assert(try session.genericAxioms())
        } catch {
            out.errors.append(Finding(agent: nil, line: 1, message: "analysis could not start: \(error.reason)"))
            return out
        }
        let ceilingText = "global safety ceiling (fused_risk <= \(fmt(p.globalSafetyCeiling)))"
        for (index, a) in p.agents.enumerated() {
            let end = index + 1 < p.agents.count ? p.agents[index + 1].line : Int.max
            allowlists(a, p, lines, end, &out)
            typos(a, &out)
            if a.invariants.isEmpty {
                out.warnings.append(Finding(agent: a.id, line: a.line,
                                            message: "no invariants: only the \(ceilingText) applies"))
                continue
            }
            duplicates(a, &out)
            solver.push()
            do {
                try logical(a, p, session, solver, ceilingText, &out)
            } catch {
                out.warnings.append(Finding(agent: a.id, line: a.line, message: "analysis inconclusive: \(error.reason)"))
            }
            solver.pop()
            session.clearArena()
        }
        return out
    }

    // MARK: Logic

    /// Facts that depend on the agent's own entry and the runtime policy.
    static func agentFacts(_ a: AgentPolicy, _ p: Policy, _ s: Z3Session) throws(Z3Failure) -> [Z3_ast] {
        var facts = [try s.compare(try s.variable("privilege_tier"), .eq, try s.num(ExactDecimal(integerLiteral: a.privilegeTier)))]
        // The gate stops uid 0 before the prover when the runtime policy or the agent's uid list rule it out.
        let rootImpossible = p.runtime.denyRootPeers
            || (!p.runtime.allowedPeerUIDs.isEmpty && !p.runtime.allowedPeerUIDs.contains(0))
            || (!a.allowedPeerUIDs.isEmpty && !a.allowedPeerUIDs.contains(0))
        if rootImpossible { facts.append(try s.compare(try s.variable("is_root"), .eq, try s.num(0 as ExactDecimal))) }
        return facts
    }

    static func logical(_ a: AgentPolicy, _ p: Policy, _ s: Z3Session, _ solver: Z3Solver, _ ceilingText: String,
                        _ out: inout PolicyAnalysis) throws(Z3Failure) {
        for f in try agentFacts(a, p, s) { try solver.assert(f) }
        var bodies: [Z3_ast] = []
        var trackers: [Z3_ast] = []
        for inv in a.invariants {
            let body = try s.formula(inv.expression)
            let t = try s.tracker("jg_inv")
            try solver.assert(try s.implies(t, body))
            bodies.append(body)
            trackers.append(t)
        }
        let ceilingTracker = try s.tracker("jg_ceil")
        try solver.assert(try s.implies(ceilingTracker, try s.compare(try s.variable("fused_risk"), .le, try s.num(p.globalSafetyCeiling))))
        let n = a.invariants.count
        let all = trackers + [ceilingTracker]   // index n = the ceiling
        func describe(_ idx: [Int]) -> String {
            idx.map { $0 == n ? "the \(ceilingText)" : "\"\(a.invariants[$0].text)\" (line \(a.invariants[$0].line))" }
                .joined(separator: ", ")
        }

        // 1. Vacuity: the invariants alone, then with the ceiling.
        if try solver.check(trackers) == .unsat {
            let core = try solver.minimise(core: try solver.core(among: all), candidates: all, fixed: [])
            let first = core.first.map { a.invariants[$0].line } ?? a.line
            if core.count == 1 {
                out.errors.append(Finding(agent: a.id, line: first, message:
                    "invariant \(describe(core)) can never hold (given what the daemon guarantees about its variables): every request is denied"))
            } else {
                out.errors.append(Finding(agent: a.id, line: first, message:
                    "invariants can never hold together: \(describe(core)); every request is denied"))
            }
            return
        }
        if try solver.check(all) == .unsat {
            var core = try solver.minimise(core: try solver.core(among: all), candidates: all, fixed: [])
            if !core.contains(n) { core.append(n) }  // without the ceiling it was sat
            let invs = core.filter { $0 < n }
            let first = invs.first.map { a.invariants[$0].line } ?? a.line
            let what = invs.count == 1 ? "invariant \(describe(invs)) requires" : "invariants \(describe(invs)) together require"
            out.errors.append(Finding(agent: a.id, line: first, message:
                "\(what) fused_risk above the \(ceilingText): every request is denied"))
            return
        }

        // 2. Redundancy, last to first so that of two equivalent invariants the later one is named.
        var removed = Set<Int>()
        for i in stride(from: n - 1, through: 0, by: -1) {
            if a.invariants[..<i].contains(where: { $0.text == a.invariants[i].text }) { removed.insert(i); continue }  // reported by `duplicates`
            let negTracker = try s.tracker("jg_neg")
            try solver.assert(try s.implies(negTracker, try s.not(bodies[i])))
            let others = (0...n).filter { $0 != i && !removed.contains($0) }
            guard try solver.check([negTracker] + others.map { all[$0] }) == .unsat else { continue }
            let core = try solver.minimise(core: try solver.core(among: all).filter { others.contains($0) },
                                           candidates: all, fixed: [negTracker])
            removed.insert(i)
            let invs = core.filter { $0 < n }
            let inv = a.invariants[i]
            if core.isEmpty {
                out.warnings.append(Finding(agent: a.id, line: inv.line, message:
                    "invariant \"\(inv.text)\" always holds (given what the daemon guarantees about its variables): it never denies"))
            } else if invs.isEmpty {
                out.warnings.append(Finding(agent: a.id, line: inv.line, message:
                    "invariant \"\(inv.text)\" never bites: the \(ceilingText) already implies it"))
            } else {
                out.warnings.append(Finding(agent: a.id, line: inv.line, message:
                    "invariant \"\(inv.text)\" is redundant: implied by \(describe(core))"))
            }
        }
    }

    // MARK: Syntactic checks

    static func duplicates(_ a: AgentPolicy, _ out: inout PolicyAnalysis) {
        for (i, inv) in a.invariants.enumerated() {
            if let first = a.invariants[..<i].first(where: { $0.text == inv.text }) {
                out.warnings.append(Finding(agent: a.id, line: inv.line, message:
                    "invariant \"\(inv.text)\" is a duplicate of line \(first.line)"))
            }
        }
    }

    /// A name that is not authoritative comes from context_vars — legitimately. Only names within
    /// edit distance 2 of an authoritative one (or equal ignoring case) are likely typos.
    static func typos(_ a: AgentPolicy, _ out: inout PolicyAnalysis) {
        var seen = Set<String>()
        for inv in a.invariants {
            for v in inv.expression.variables where !authoritativeVariables.contains(v) && seen.insert(v).inserted {
                let best = authoritativeVariables
                    .map { (name: $0, d: v.lowercased() == $0 ? 0 : editDistance(v, $0)) }
                    .min { $0.d < $1.d }
                if let best, best.d <= 2 {
                    out.warnings.append(Finding(agent: a.id, line: inv.line, message:
                        "\"\(v)\" is not a daemon variable and will be read from the caller's context_vars: did you mean \"\(best.name)\"?"))
                }
            }
        }
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a.utf8), y = Array(b.utf8)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var prev = Array(0...y.count)
        var cur = prev
        for i in 1...x.count {
            cur[0] = i
            for j in 1...y.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[y.count]
    }

    static func policyWide(_ p: Policy, _ lines: SourceLines, _ out: inout PolicyAnalysis) {
        let rt = p.runtime
        var rtLine: Int {
            let rt = lines.find("runtime_policy", from: 1) ?? 1
            return lines.find("allowed_peer_uids", from: rt, before: rt + 6) ?? rt
        }
        if rt.denyRootPeers, !rt.allowedPeerUIDs.isEmpty, rt.allowedPeerUIDs.allSatisfy({ $0 == 0 }) {
            out.errors.append(Finding(agent: nil, line: rtLine, message:
                "runtime_policy.allowed_peer_uids admits only uid 0 while deny_root_peers denies root: no peer can ever connect"))
        }
        for d in duplicatesIn(rt.allowedPeerUIDs.map(String.init)) {
            out.warnings.append(Finding(agent: nil, line: rtLine, message: "runtime_policy.allowed_peer_uids lists \(d) more than once"))
        }
        for d in duplicatesIn(p.canaryResources) {
            out.warnings.append(Finding(agent: nil, line: lines.find("canary_resources", from: 1) ?? 1,
                                        message: "canary_resources lists \"\(d)\" more than once"))
        }
    }

    static func allowlists(_ a: AgentPolicy, _ p: Policy, _ lines: SourceLines, _ end: Int, _ out: inout PolicyAnalysis) {
        // Looked up only when a finding needs it, and only within the agent's own entry: scanning
        // the whole text per agent made analysis quadratic in the number of agents.
        func line(_ key: String) -> Int { lines.find(key, from: a.line, before: end) ?? a.line }
        var uidLine: Int { line("allowed_peer_uids") }
        for (key, list) in [("allowed_peer_uids", a.allowedPeerUIDs.map(String.init)), ("allowed_intents", a.allowedIntents),
                            ("allowed_executables", a.allowedExecutables)] {
            for d in duplicatesIn(list) {
                out.warnings.append(Finding(agent: a.id, line: line(key), message: "\(key) lists \"\(d)\" more than once"))
            }
        }
        let rt = p.runtime
        if !a.allowedPeerUIDs.isEmpty {
            if !rt.allowedPeerUIDs.isEmpty {
                let reachable = a.allowedPeerUIDs.filter { rt.allowedPeerUIDs.contains($0) }
                let unreachable = a.allowedPeerUIDs.filter { !rt.allowedPeerUIDs.contains($0) }
                if reachable.isEmpty {
                    out.errors.append(Finding(agent: a.id, line: uidLine, message:
                        "allowed_peer_uids \(a.allowedPeerUIDs) are all excluded by runtime_policy.allowed_peer_uids \(rt.allowedPeerUIDs): the agent can never be used"))
                } else if !unreachable.isEmpty {
                    out.warnings.append(Finding(agent: a.id, line: uidLine, message:
                        "allowed_peer_uids \(unreachable) are excluded by runtime_policy.allowed_peer_uids \(rt.allowedPeerUIDs)"))
                }
            }
            if rt.denyRootPeers, a.allowedPeerUIDs.contains(0) {
                if a.allowedPeerUIDs.allSatisfy({ $0 == 0 }) {
                    out.errors.append(Finding(agent: a.id, line: uidLine, message:
                        "allowed_peer_uids admits only uid 0 (root) while runtime_policy.deny_root_peers denies root peers: the agent can never be used"))
                } else {
                    out.warnings.append(Finding(agent: a.id, line: uidLine, message:
                        "allowed_peer_uids lists uid 0 but runtime_policy.deny_root_peers denies root peers"))
                }
            }
        }
        // An intent naming a canary always trips the tripwire (the gate searches the intent text).
        let tripped = a.allowedIntents.filter { i in p.canaryResources.contains { TextSearch.contains(i, $0) } }
        if !tripped.isEmpty {
            if tripped.count == Set(a.allowedIntents).count {
                out.errors.append(Finding(agent: a.id, line: line("allowed_intents"), message:
                    "every allowed intent contains a canary resource (\(tripped.joined(separator: ", "))): every request is denied"))
            } else {
                for t in Set(tripped).sorted() {
                    out.warnings.append(Finding(agent: a.id, line: line("allowed_intents"), message:
                        "allowed intent \"\(t)\" contains a canary resource: it is always denied"))
                }
            }
        }
    }

    static func duplicatesIn(_ xs: [String]) -> [String] {
        var seen = Set<String>(), dup: [String] = []
        for x in xs where !seen.insert(x).inserted && !dup.contains(x) { dup.append(x) }
        return dup
    }

    static func fmt(_ d: Double) -> String { ExactDecimal(d)?.description ?? d.description }
}

/// The policy text by line, to anchor findings about keys the policy model keeps no line for.
struct SourceLines {
    let lines: [Substring]
    init(_ text: String) { lines = text.split(separator: "\n", omittingEmptySubsequences: false) }

    /// First 1-based line at or after `from` whose text (before any comment) contains `key:`.
    func find(_ key: String, from: Int, before: Int = Int.max) -> Int? {
        guard from >= 1, from <= lines.count else { return nil }
        let needle = Array((key + ":").utf8)
        for i in (from - 1)..<min(lines.count, before - 1) {
            var bytes = Array(lines[i].utf8)
            if let hash = bytes.firstIndex(of: UInt8(ascii: "#")) { bytes.removeSubrange(hash...) }
            guard bytes.count >= needle.count else { continue }
            for j in 0...(bytes.count - needle.count) where bytes[j..<(j + needle.count)].elementsEqual(needle) { return i + 1 }
        }
        return nil
    }
}
