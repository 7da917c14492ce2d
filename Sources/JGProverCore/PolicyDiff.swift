import CZ3
import JGPolicy

/// A state one policy admits and the other denies: the value of every variable involved (each
/// invariant's variables in either policy, plus fused_risk for the ceiling), and why the denying
/// side denies it.
public struct Counterexample: Sendable, Equatable, CustomStringConvertible {
    public var values: [ModelValue]
    /// The denying side's invariants (text) that the state violates; "global_safety_ceiling" when
    /// it exceeds that side's ceiling.
    public var deniedBy: [String]

    /// The values as Doubles, ready for `ProverEngine.check`.
    public var doubles: [String: Double] {
        Dictionary(values.map { ($0.name, $0.doubleValue) }, uniquingKeysWith: { a, _ in a })
    }

    public var description: String { values.map(\.description).joined(separator: ", ") }
}

public enum AgentChange: Sendable, Equatable {
    case added, removed, equivalent
    /// NEW admits a state OLD denied.
    case wider(Counterexample)
    /// OLD admitted a state NEW denies.
    case narrower(Counterexample)
    case incomparable(wider: Counterexample, narrower: Counterexample)
    /// The comparison could not be made (Z3 error or undecided).
    case failed(String)
}

public struct AgentDiff: Sendable, Equatable {
    public var agent: String
    public var change: AgentChange
    /// The agent's line in OLD and in NEW (nil where absent).
    public var oldLine: Int?
    public var newLine: Int?
}

public enum DiffVerdict: Int32, Sendable {
    // The raw values are `jinnguard policy diff`'s exit codes.
    case equivalent = 0, narrower = 1, wider = 2, incomparable = 3, error = 4
}

public struct PolicyDiffReport: Sendable {
    public var agents: [AgentDiff]

    /// Over all agents: added counts as wider, removed as narrower; any failure is an error.
    public var verdict: DiffVerdict {
        var wider = false, narrower = false
        for a in agents {
            switch a.change {
            case .added, .wider: wider = true
            case .removed, .narrower: narrower = true
            case .incomparable: wider = true; narrower = true
            case .equivalent: break
            case .failed: return .error
            }
        }
        switch (wider, narrower) {
        case (false, false): return .equivalent
        case (true, false): return .wider
        case (false, true): return .narrower
        case (true, true): return .incomparable
        }
    }
}

/// Semantic comparison of two policies, agent by agent (DESIGN.md §5). What an agent admits is the
/// set of states satisfying all of its invariants and `fused_risk <= global_safety_ceiling`, over the
/// daemon's generic background facts (the same in both policies: facts tied to one policy's entry,
/// such as its privilege_tier, are left out so that they do not show up as differences of their own).
/// Allowlists, quotas and the runtime policy are not compared.
public enum PolicyDiff {
    public static func diff(old: Policy, new: Policy, engine: ProverEngine? = nil) -> PolicyDiffReport {
        var out: [AgentDiff] = []
        let session = Z3Session(engine: engine)
        var solver: Z3Solver?
        var startError: String?
        do {
            let s = try session.makeSolver()
            try s.assert(try session.genericAxioms())
            solver = s
        } catch {
            startError = error.reason
        }
        for a in old.agents where new.agent(a.id) == nil {
            out.append(AgentDiff(agent: a.id, change: .removed, oldLine: a.line, newLine: nil))
        }
        for b in new.agents {
            guard let a = old.agent(b.id) else {
                out.append(AgentDiff(agent: b.id, change: .added, oldLine: nil, newLine: b.line))
                continue
            }
            var change: AgentChange
            if let solver {
                solver.push()
                do {
                    change = try compare(a, old.globalSafetyCeiling, b, new.globalSafetyCeiling, session, solver)
                } catch {
                    change = .failed(error.reason)
                }
                solver.pop()
                session.clearArena()
            } else {
                change = .failed(startError ?? "no solver")
            }
            out.append(AgentDiff(agent: b.id, change: change, oldLine: a.line, newLine: b.line))
        }
        return PolicyDiffReport(agents: out)
    }

    static func compare(_ a: AgentPolicy, _ ceilA: Double, _ b: AgentPolicy, _ ceilB: Double,
                        _ s: Z3Session, _ solver: Z3Solver) throws(Z3Failure) -> AgentChange {
        // Each side as a list of (label, formula): the invariants, then the ceiling.
        func side(_ x: AgentPolicy, _ ceiling: Double) throws(Z3Failure) -> [(String, Z3_ast)] {
            var parts: [(String, Z3_ast)] = []
            for inv in x.invariants { parts.append((inv.text, try s.formula(inv.expression))) }
            parts.append(("global_safety_ceiling", try s.compare(try s.variable("fused_risk"), .le, try s.num(ceiling))))
            return parts
        }
        let oldParts = try side(a, ceilA), newParts = try side(b, ceilB)
        let admitOld = try s.and(oldParts.map(\.1)), admitNew = try s.and(newParts.map(\.1))
        var names = Set(["fused_risk"])
        for inv in a.invariants + b.invariants { names.formUnion(inv.expression.variables) }
        let involved = names.sorted()

        func witness(_ admits: Z3_ast, _ denies: [(String, Z3_ast)]) throws(Z3Failure) -> Counterexample? {
            let t = try s.tracker("jg_diff")
            try solver.assert(try s.implies(t, try s.and([admits, try s.not(try s.and(denies.map(\.1)))])))
            guard try solver.check([t]) == .sat else { return nil }
            var by: [String] = []
            for (label, f) in denies where try !solver.holdsInModel(f) { by.append(label) }
            return Counterexample(values: try solver.model(for: involved), deniedBy: by)
        }
        let wider = try witness(admitNew, oldParts)
        let narrower = try witness(admitOld, newParts)
        switch (wider, narrower) {
        case (nil, nil): return .equivalent
        case let (w?, nil): return .wider(w)
        case let (nil, n?): return .narrower(n)
        case let (w?, n?): return .incomparable(wider: w, narrower: n)
        }
    }
}
