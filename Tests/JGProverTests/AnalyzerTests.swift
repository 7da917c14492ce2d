import JGPolicy
import JGPolicyYAML
import JGProverCore
import Testing

func load(_ yaml: String) throws -> Policy { try PolicyLoader.load(text: yaml, sourceName: "t.yaml") }

/// One agent "a" with `invs` (each on its own line, from line 6 on), under `ceiling`.
func onePolicy(ceiling: Double = 90, tier: Int = 1, extra: String = "", _ invs: [String]) throws -> Policy {
    var y = "global_safety_ceiling: \(ceiling)\nagent_nodes:\n  - id: a\n    privilege_tier: \(tier)\n\(extra)    invariants:\n"
    for i in invs { y += "      - \"\(i)\"\n" }
    if invs.isEmpty { y = y.replacingOccurrences(of: "    invariants:\n", with: "    invariants: []\n") }
    return try load(y)
}

extension String {
    func replacingOccurrences(of a: String, with b: String) -> String {
        var out = "", rest = Substring(self)
        while let r = rest.firstRange(of: a) { out += rest[..<r.lowerBound] + b; rest = rest[r.upperBound...] }
        return out + rest
    }
}

@Suite struct AnalyzerTests {
    @Test func contradictoryPairNamesExactlyTheMinimalSet() throws {
        let p = try onePolicy(["x < 3", "y > 2", "z <= 4 || w > 1", "x > 5", "fused_risk <= 50"])
        let r = PolicyAnalyzer.analyze(p)
        #expect(r.errors.count == 1)
        let e = try #require(r.errors.first)
        #expect(e.agent == "a")
        #expect(e.line == 6)
        #expect(e.message == "invariants can never hold together: \"x < 3\" (line 6), \"x > 5\" (line 9); every request is denied")
        // A vacuous agent is not analysed for redundancy (everything would be implied).
        #expect(!r.warnings.contains { $0.message.contains("redundant") })
    }

    @Test func threeWayConflictIsMinimal() throws {
        let p = try onePolicy(["x + y <= 10", "q >= 0", "x >= 6", "y >= 6"])
        let e = try #require(PolicyAnalyzer.analyze(p).errors.first)
        #expect(e.message.contains("\"x + y <= 10\" (line 6)"))
        #expect(e.message.contains("\"x >= 6\" (line 8)"))
        #expect(e.message.contains("\"y >= 6\" (line 9)"))
        #expect(!e.message.contains("q >= 0"))
    }

    @Test func factsMakeImpossibleStatesErrors() throws {
        // privilege_escalation_depth = is_root·decisions_seen, and is_root is 0 when root is denied.
        let rootDenied = try load("""
        global_safety_ceiling: 90
        runtime_policy: {deny_root_peers: true}
        agent_nodes:
          - id: a
            privilege_tier: 2
            invariants: ["privilege_escalation_depth >= 1", "privilege_tier == 2"]
        """)
        let r = PolicyAnalyzer.analyze(rootDenied)
        #expect(r.errors.map(\.message) == ["invariant \"privilege_escalation_depth >= 1\" (line 6) can never hold (given what the daemon guarantees about its variables): every request is denied"])
        // Without the root denial a root peer with history is a real state: no error.
        let rootAllowed = try onePolicy(["privilege_escalation_depth >= 1", "decisions_seen <= 1"])
        #expect(PolicyAnalyzer.analyze(rootAllowed).errors.isEmpty)
        // trust_score = 100 - fused_risk.
        let p = try onePolicy(["trust_score > 60", "fused_risk >= 50"])
        #expect(PolicyAnalyzer.analyze(p).errors.count == 1)
        // decisions_seen is a whole number.
        let q = try onePolicy(["decisions_seen > 2 && decisions_seen < 3"])
        #expect(PolicyAnalyzer.analyze(q).errors.count == 1)
    }

    @Test func redundantInvariantWarnedNamingWhatImpliesIt() throws {
        let p = try onePolicy(["spend <= 100", "spend <= 150", "x >= 0", "x + spend <= 500 || x < 0"])
        let r = PolicyAnalyzer.analyze(p)
        #expect(r.errors.isEmpty)
        let w = r.warnings.map(\.message)
        #expect(w.contains("invariant \"spend <= 150\" is redundant: implied by \"spend <= 100\" (line 6)"))
        #expect(r.warnings.first { $0.message.contains("\"spend <= 150\" is redundant") }?.line == 7)
        // x + spend <= 500 is not implied (x is unbounded above): no warning about it.
        #expect(!w.contains { $0.contains("\"x + spend <= 500 || x < 0\" is redundant") })
    }

    @Test func equivalentPairWarnsOnlyTheLaterOne() throws {
        let p = try onePolicy(["x < 3", "3 > x"])
        let w = PolicyAnalyzer.analyze(p).warnings
        #expect(w.count == 1)
        #expect(w.first?.line == 7)
        let dup = try onePolicy(["x < 3", "x < 3"])
        #expect(PolicyAnalyzer.analyze(dup).warnings.map(\.message) == ["invariant \"x < 3\" is a duplicate of line 6"])
    }

    @Test func ceilingFindings() throws {
        // Bound above the ceiling: never bites (warning).
        let moot = PolicyAnalyzer.analyze(try onePolicy(ceiling: 75, ["fused_risk <= 80", "x < 1"]))
        #expect(moot.errors.isEmpty)
        #expect(moot.warnings.map(\.message) == ["invariant \"fused_risk <= 80\" never bites: the global safety ceiling (fused_risk <= 75) already implies it"])
        // trust_score is the same bound seen from the other side.
        let trust = PolicyAnalyzer.analyze(try onePolicy(ceiling: 75, ["trust_score >= 20"]))
        #expect(trust.warnings.first?.message.contains("never bites") == true)
        // Requires fused_risk above the ceiling: always denies (error).
        let deny = PolicyAnalyzer.analyze(try onePolicy(ceiling: 75, ["x < 1", "fused_risk > 75"]))
        #expect(deny.errors.map(\.message) == ["invariant \"fused_risk > 75\" (line 7) requires fused_risk above the global safety ceiling (fused_risk <= 75): every request is denied"])
        #expect(deny.errors.first?.line == 7)
        // A bound below the ceiling bites, and a state above the ceiling is not interesting.
        let fine = PolicyAnalyzer.analyze(try onePolicy(ceiling: 75, ["fused_risk <= 60"]))
        #expect(fine.errors.isEmpty && fine.warnings.isEmpty)
        // Tautology over daemon facts.
        let always = PolicyAnalyzer.analyze(try onePolicy(["fused_risk <= 100 || x > 1"]))
        #expect(always.warnings.first?.message.contains("always holds") == true)
    }

    @Test func emptyTyposAndAllowlists() throws {
        let empty = PolicyAnalyzer.analyze(try onePolicy([]))
        #expect(empty.warnings.map(\.message) == ["no invariants: only the global safety ceiling (fused_risk <= 90) applies"])
        let typo = PolicyAnalyzer.analyze(try onePolicy(["fused_rsik <= 50", "spending_ceiling_usd <= 10", "Trust_Score > 1"]))
        let tw = typo.warnings.map(\.message)
        #expect(tw.contains("\"fused_rsik\" is not a daemon variable and will be read from the caller's context_vars: did you mean \"fused_risk\"?"))
        #expect(tw.contains { $0.contains("\"Trust_Score\"") && $0.contains("\"trust_score\"") })
        #expect(!tw.contains { $0.contains("spending_ceiling_usd") })

        let p = try load("""
        global_safety_ceiling: 90
        canary_resources: [decoy]
        runtime_policy: {deny_root_peers: true, allowed_peer_uids: [1000, 1001]}
        agent_nodes:
          - id: excluded
            privilege_tier: 1
            allowed_peer_uids: [2000, 2001]
            invariants: ["x < 1"]
          - id: rooty
            privilege_tier: 1
            allowed_peer_uids: [0]
            invariants: ["x < 1"]
          - id: partial
            privilege_tier: 1
            allowed_peer_uids: [1000, 1000, 3000]
            allowed_intents: [read, read_decoy]
            invariants: ["x < 1"]
        """)
        let r = PolicyAnalyzer.analyze(p)
        let errs = r.errors.map { "\($0.agent ?? "-"):\($0.line): \($0.message)" }
        #expect(errs.contains("excluded:7: allowed_peer_uids [2000, 2001] are all excluded by runtime_policy.allowed_peer_uids [1000, 1001]: the agent can never be used"))
        #expect(errs.contains("rooty:11: allowed_peer_uids admits only uid 0 (root) while runtime_policy.deny_root_peers denies root peers: the agent can never be used"))
        let warns = r.warnings.map { "\($0.agent ?? "-"):\($0.line): \($0.message)" }
        #expect(warns.contains("partial:15: allowed_peer_uids lists \"1000\" more than once"))
        #expect(warns.contains("partial:15: allowed_peer_uids [3000] are excluded by runtime_policy.allowed_peer_uids [1000, 1001]"))
        #expect(warns.contains("partial:16: allowed intent \"read_decoy\" contains a canary resource: it is always denied"))

        let rootOnly = try load("global_safety_ceiling: 90\nruntime_policy: {deny_root_peers: true, allowed_peer_uids: [0]}\nagent_nodes: []\n")
        #expect(PolicyAnalyzer.analyze(rootOnly).errors.count == 1)
    }

    @Test func sharesTheEngineContext() throws {
        let e = ProverEngine()
        let p = try onePolicy(["x < 3", "x > 5"])
        let q = try onePolicy(["x < 3"])
        try e.load(policy: q)
        #expect(PolicyAnalyzer.analyze(p, engine: e).errors.count == 1)
        // The engine still answers after analysis used its context.
        #expect(e.check(agentID: "a", values: ["x": 1, "fused_risk": 0]).verdict == .holds)
        #expect(e.check(agentID: "a", values: ["x": 4, "fused_risk": 0]).verdict == .violation)
    }
}

@Suite struct DiffTests {
    /// Feeds a counterexample back into a fresh engine for `p` and returns its verdict.
    func verdict(_ p: Policy, _ c: Counterexample) throws -> ProverVerdict {
        let e = ProverEngine()
        try e.load(policy: p)
        return e.check(agentID: "a", values: c.doubles).verdict
    }

    @Test func widerWithCounterexampleThatReallySatisfies() throws {
        let old = try onePolicy(ceiling: 80, ["spend <= 100", "fused_risk <= 70"])
        let new = try onePolicy(ceiling: 80, ["spend <= 150", "fused_risk <= 70"])
        let r = PolicyDiff.diff(old: old, new: new)
        #expect(r.verdict == .wider)
        guard case let .wider(c) = r.agents.first?.change else { Issue.record("\(r.agents)"); return }
        #expect(c.values.map(\.name) == ["fused_risk", "spend"])
        #expect(c.deniedBy == ["spend <= 100"])
        #expect(try verdict(new, c) == .holds)
        #expect(try verdict(old, c) == .violation)
        // The reverse is narrower.
        let back = PolicyDiff.diff(old: new, new: old)
        #expect(back.verdict == .narrower)
        guard case let .narrower(n) = back.agents.first?.change else { Issue.record("\(back.agents)"); return }
        #expect(try verdict(new, n) == .holds)
        #expect(try verdict(old, n) == .violation)
    }

    @Test func equivalentDespiteDifferentText() throws {
        let old = try onePolicy(["x < 3 && y >= 1", "0.1*z + 0.2*z <= 0.3"])
        let new = try onePolicy(["!(x >= 3)", "1 <= y", "z <= 1"])
        #expect(PolicyDiff.diff(old: old, new: new).verdict == .equivalent)
        // Ceiling bounds equal to the ceiling itself change nothing.
        let c1 = try onePolicy(ceiling: 75, ["fused_risk <= 80"]), c2 = try onePolicy(ceiling: 75, [])
        #expect(PolicyDiff.diff(old: c1, new: c2).verdict == .equivalent)
    }

    @Test func incomparableHasBothWitnesses() throws {
        let old = try onePolicy(["x < 3"])
        let new = try onePolicy(["x > 1"])
        let r = PolicyDiff.diff(old: old, new: new)
        #expect(r.verdict == .incomparable)
        guard case let .incomparable(w, n) = r.agents.first?.change else { Issue.record("\(r.agents)"); return }
        #expect(try verdict(new, w) == .holds && verdict(old, w) == .violation)
        #expect(try verdict(old, n) == .holds && verdict(new, n) == .violation)
    }

    @Test func ceilingChangeIsWiderAndAgentsAddedRemoved() throws {
        let old = try onePolicy(ceiling: 70, ["x < 3"])
        let new = try onePolicy(ceiling: 80, ["x < 3"])
        let r = PolicyDiff.diff(old: old, new: new)
        #expect(r.verdict == .wider)
        guard case let .wider(c) = r.agents.first?.change else { Issue.record("\(r.agents)"); return }
        #expect(c.deniedBy == ["global_safety_ceiling"])
        #expect(try verdict(old, c) == .ceilingExceeded)
        #expect(try verdict(new, c) == .holds)

        let two = try load("global_safety_ceiling: 90\nagent_nodes:\n  - id: b\n    privilege_tier: 1\n    invariants: []\n")
        let d = PolicyDiff.diff(old: old, new: two)
        #expect(d.verdict == .incomparable)
        #expect(d.agents.map(\.agent) == ["a", "b"])
        #expect(d.agents.map(\.change) == [.removed, .added])
        #expect(DiffVerdict.incomparable.rawValue == 3 && DiffVerdict.error.rawValue == 4)
    }

    @Test func nonDecimalWitnessValuesAreExact() throws {
        let old = try onePolicy(["3*x <= 1"])
        let new = try onePolicy(["3*x <= 2"])
        guard case let .wider(c) = PolicyDiff.diff(old: old, new: new).agents.first?.change else { Issue.record("no witness"); return }
        let x = try #require(c.values.first { $0.name == "x" })
        #expect(!x.rational.isEmpty)
        #expect(x.doubleValue * 3 > 1 && x.doubleValue * 3 <= 2 + 1e-12)
    }
}
