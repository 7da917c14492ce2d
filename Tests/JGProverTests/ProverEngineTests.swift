import Foundation
import JGPolicy
import JGPolicyYAML
import JGProverCore
import Testing

/// Builds a policy with one agent per entry, through the real loader.
func makePolicy(ceiling: Double = 90, _ agents: [(String, [String])]) throws -> Policy {
    var y = "global_safety_ceiling: \(ceiling)\nagent_nodes:\n"
    for (id, invs) in agents {
        y += "  - id: \(id)\n    privilege_tier: 1\n    invariants:\n"
        if invs.isEmpty { y = String(y.dropLast("\n    invariants:\n".count)) + "\n    invariants: []\n" }
        for i in invs { y += "      - \"\(i)\"\n" }
    }
    return try PolicyLoader.load(text: y, sourceName: "test.yaml")
}

func engine(ceiling: Double = 90, _ invs: [String], id: String = "a") throws -> ProverEngine {
    let e = ProverEngine()
    try e.load(policy: try makePolicy(ceiling: ceiling, [(id, invs)]))
    #expect(e.policyLoaded)
    return e
}

@Suite struct ProverEngineTests {
    @Test func holdsAndViolationNamesInvariantWithValues() throws {
        let e = try engine(["spending_ceiling_usd <= 150.00", "privilege_escalation_depth < 3"])
        let ok = e.check(agentID: "a", values: ["spending_ceiling_usd": 150, "privilege_escalation_depth": 2, "fused_risk": 10])
        #expect(ok.verdict == .holds)
        #expect(ok.violated.isEmpty)

        let bad = e.check(agentID: "a", values: ["spending_ceiling_usd": 200, "privilege_escalation_depth": 2, "fused_risk": 10])
        #expect(bad.verdict == .violation)
        #expect(bad.violated == ["spending_ceiling_usd <= 150.00"])
        #expect(bad.explanation == "invariant \"spending_ceiling_usd <= 150.00\" violated: spending_ceiling_usd=200")

        let both = e.check(agentID: "a", values: ["spending_ceiling_usd": 200.5, "privilege_escalation_depth": 3, "fused_risk": 10])
        #expect(both.verdict == .violation)
        #expect(both.violated == ["spending_ceiling_usd <= 150.00", "privilege_escalation_depth < 3"])
        #expect(both.explanation.contains("spending_ceiling_usd=200.5"))
        #expect(both.explanation.contains("privilege_escalation_depth=3"))
    }

    @Test func booleanConnectives() throws {
        let e = try engine(["(x < 1 || y > 5) && !(z == 2)"])
        func v(_ x: Double, _ y: Double, _ z: Double) -> ProverVerdict {
            e.check(agentID: "a", values: ["x": x, "y": y, "z": z, "fused_risk": 0]).verdict
        }
        #expect(v(0, 0, 0) == .holds)
        #expect(v(5, 6, 0) == .holds)
        #expect(v(5, 5, 0) == .violation)
        #expect(v(0, 0, 2) == .violation)
        #expect(v(0.5, 0, 2.0000001) == .holds)
    }

    @Test func variableToVariableAndLinearSums() throws {
        let e = try engine(["spent <= budget", "2*x + y <= 10", "a - b != 0"])
        func out(_ vals: [String: Double]) -> ProverOutcome {
            var v = vals
            v["fused_risk"] = 1
            return e.check(agentID: "a", values: v)
        }
        let base: [String: Double] = ["spent": 5, "budget": 5, "x": 3, "y": 4, "a": 1, "b": 2]
        #expect(out(base).verdict == .holds)
        var v = base; v["spent"] = 5.5
        let o1 = out(v)
        #expect(o1.violated == ["spent <= budget"])
        #expect(o1.explanation.contains("budget=5"))
        #expect(o1.explanation.contains("spent=5.5"))
        v = base; v["y"] = 4.0001
        #expect(out(v).violated == ["2*x + y <= 10"])
        v = base; v["b"] = 1
        #expect(out(v).violated == ["a - b != 0"])
        v = base; v["x"] = -100; v["y"] = 210
        #expect(out(v).verdict == .holds)
    }

    @Test func missingVariableDenies() throws {
        let e = try engine(["x < 3", "y < 3"])
        let o = e.check(agentID: "a", values: ["y": 1, "fused_risk": 0])
        #expect(o.verdict == .violation)
        #expect(o.violated == ["x < 3"])
        #expect(o.explanation == "no value for variable \"x\" (invariant \"x < 3\")")
        // A missing fused_risk cannot pass the ceiling either.
        let o2 = e.check(agentID: "a", values: ["x": 1, "y": 1])
        #expect(o2.verdict == .violation)
        #expect(o2.explanation.contains("fused_risk"))
    }

    @Test func nonFiniteValuesDeny() throws {
        let e = try engine(["x < 3"])
        for bad in [Double.nan, .infinity, -.infinity] {
            let o = e.check(agentID: "a", values: ["x": bad, "fused_risk": 0])
            #expect(o.verdict == .violation, "x=\(bad)")
            let o2 = e.check(agentID: "a", values: ["x": 1, "fused_risk": bad])
            #expect(o2.verdict == .violation, "fused_risk=\(bad)")
        }
        // And the engine still works afterwards.
        #expect(e.check(agentID: "a", values: ["x": 1, "fused_risk": 0]).verdict == .holds)
    }

    @Test func ceilingExceeded() throws {
        let e = try engine(ceiling: 90, ["x < 3"])
        let o = e.check(agentID: "a", values: ["x": 1, "fused_risk": 95])
        #expect(o.verdict == .ceilingExceeded)
        #expect(o.violated.isEmpty)
        #expect(o.explanation == "fused_risk=95 > global_safety_ceiling=90")
        #expect(e.check(agentID: "a", values: ["x": 1, "fused_risk": 90]).verdict == .holds)
        #expect(e.check(agentID: "a", values: ["x": 1, "fused_risk": 90.0000001]).verdict == .ceilingExceeded)
        // An invariant violation takes precedence, and the ceiling is still mentioned.
        let both = e.check(agentID: "a", values: ["x": 4, "fused_risk": 95])
        #expect(both.verdict == .violation)
        #expect(both.violated == ["x < 3"])
        #expect(both.explanation.contains("global_safety_ceiling=90"))
    }

    @Test func agentWithoutInvariantsStillHasCeiling() throws {
        let e = ProverEngine()
        try e.load(policy: try makePolicy(ceiling: 75, [("bare", [])]))
        #expect(e.check(agentID: "bare", values: ["fused_risk": 75]).verdict == .holds)
        #expect(e.check(agentID: "bare", values: ["fused_risk": 76]).verdict == .ceilingExceeded)
    }

    @Test func reloadReplacesInvariants() throws {
        let e = try engine(["x <= 10"])
        #expect(e.check(agentID: "a", values: ["x": 8, "fused_risk": 0]).verdict == .holds)
        try e.load(policy: try makePolicy([("a", ["x <= 5"]), ("b", ["y >= 1"])]))
        let o = e.check(agentID: "a", values: ["x": 8, "fused_risk": 0])
        #expect(o.verdict == .violation)
        #expect(o.violated == ["x <= 5"])
        #expect(e.check(agentID: "b", values: ["y": 1, "fused_risk": 0]).verdict == .holds)
        // A reload dropping an agent makes it unknown.
        try e.load(policy: try makePolicy([("b", ["y >= 1"])]))
        #expect(e.check(agentID: "a", values: ["x": 1, "fused_risk": 0]).verdict == .violation)
    }

    @Test func badPolicyKeepsOldOne() throws {
        let e = try engine(["x <= 10"])
        var p = try makePolicy([("a", ["x <= 1"])])
        p.globalSafetyCeiling = .nan
        #expect(throws: ProverLoadError.self) { try e.load(policy: p) }
        // Constants beyond the exact-decimal caps are refused by the parser, before the engine.
        #expect(throws: InvariantSyntaxError.self) { try InvariantParser.parse("1e999 * 1e999 * x <= 1") }
        #expect(e.check(agentID: "a", values: ["x": 8, "fused_risk": 0]).verdict == .holds)
    }

    @Test func unknownAgentAndNoPolicy() throws {
        let fresh = ProverEngine()
        #expect(!fresh.policyLoaded)
        #expect(fresh.check(agentID: "a", values: [:]).verdict != .holds)
        let e = try engine(["x <= 10"])
        let o = e.check(agentID: "nobody", values: ["x": 1, "fused_risk": 0])
        #expect(o.verdict == .violation)
        #expect(o.explanation.contains("nobody"))
    }

    @Test func decimalExactness() throws {
        let e = try engine(ceiling: 100, ["x <= 0.1", "y >= 1e-3", "big <= 1e15", "s == 0.3"])
        func o(x: Double = 0, y: Double = 1, big: Double = 0, s: Double = 0.3) -> ProverOutcome {
            e.check(agentID: "a", values: ["x": x, "y": y, "big": big, "s": s, "fused_risk": 0])
        }
        #expect(o(x: 0.1).verdict == .holds)
        #expect(o(x: 0.1000001).violated == ["x <= 0.1"])
        #expect(o(x: 0.1.nextUp).violated == ["x <= 0.1"])
        #expect(o(y: 0.001).verdict == .holds)
        #expect(o(y: 0.001.nextDown).violated == ["y >= 1e-3"])
        #expect(o(big: 1e15).verdict == .holds)
        #expect(o(big: 1e15 + 0.125).violated == ["big <= 1e15"])
        #expect(o(big: 1e300).violated == ["big <= 1e15"])
        #expect(o(y: 1e300, big: -1e300).verdict == .holds)
        // Values are compared as the decimals they print as: 0.3 is exactly 3/10, 0.1 + 0.2 is not.
        #expect(o(s: 0.3).verdict == .holds)
        #expect(o(s: 0.1 + 0.2).violated == ["s == 0.3"])
        #expect(o(x: -0.0).verdict == .holds)
        let small = o(y: Double.leastNonzeroMagnitude)
        #expect(small.violated == ["y >= 1e-3"])
        #expect(small.explanation.contains("y=5e-324"))
    }

    @Test func tenThousandChecksStayConsistent() throws {
        let e = try engine(["x <= 100", "x + y < 150"])
        var holds = 0, violations = 0
        for i in 0..<10_000 {
            let x = Double(i % 200)
            let o = e.check(agentID: "a", values: ["x": x, "y": 49.5, "fused_risk": Double(i % 91)])
            let expected: ProverVerdict = x <= 100 ? .holds : .violation
            if o.verdict != expected {
                Issue.record("i=\(i) x=\(x): \(o.verdict) \(o.explanation)")
                break
            }
            if o.verdict == .holds { holds += 1 } else { violations += 1 }
        }
        #expect(holds == 5050)
        #expect(violations == 4950)
        // After many violations (with core extraction), a passing request still passes and a failing one
        // names exactly the right invariants: no state leaked between requests.
        #expect(e.check(agentID: "a", values: ["x": 1, "y": 1, "fused_risk": 1]).verdict == .holds)
        #expect(e.check(agentID: "a", values: ["x": 101, "y": 48, "fused_risk": 1]).violated == ["x <= 100"])
        #expect(e.check(agentID: "a", values: ["x": 101, "y": 49.5, "fused_risk": 1]).violated == ["x <= 100", "x + y < 150"])
    }

    @Test func rlimitExhaustionIsUnknown() throws {
        // An rlimit of 1 cannot finish any real check: the engine must answer unknown, never crash.
        // The ground path needs no solver for linear arithmetic, so the solver path is the one under test.
        let e = ProverEngine(rlimit: 1, mode: .solver)
        try e.load(policy: try makePolicy([("a", ["x + y <= 10 || x - y >= 3"])]))
        let o = e.check(agentID: "a", values: ["x": 20, "y": 1, "fused_risk": 0])
        #expect(o.verdict == .unknown)
        #expect(o.explanation.hasPrefix("Z3"))
    }

    @Test func rlimitIsPerCheckNotCumulative() throws {
        let e = ProverEngine(rlimit: 20_000, mode: .solver)
        try e.load(policy: try makePolicy([("a", ["x + y <= 10 || x - y >= 3"])]))
        for i in 0..<3_000 {
            let o = e.check(agentID: "a", values: ["x": Double(i % 7), "y": 1, "fused_risk": 0])
            if o.verdict != .holds { Issue.record("check \(i): \(o.verdict) \(o.explanation)"); break }
        }
    }

    /// The ground path (substitution + Z3's rewriter) and the incremental solver with unsat cores must
    /// agree on every verdict, violated list and explanation.
    @Test func groundAndSolverPathsAgree() throws {
        // Z3 shares equal subterms ("x + y" below appears in two invariants), so a cache that outlived a
        // request would show up here as a verdict computed from an earlier request's values.
        let invs = ["x <= 100", "x + y < 150", "2 * x - 3 * y >= -40 || y == 7", "!(x == 13) && y != 0.5",
                    "x != y", "0.1 * x + 0.2 * y <= 30.3", "privilege_escalation_depth < 3", "x + y > -60"]
        let policy = try makePolicy(ceiling: 80, [("a", invs), ("bare", [])])
        let ground = ProverEngine(mode: .ground), solver = ProverEngine(mode: .solver)
        try ground.load(policy: policy)
        try solver.load(policy: policy)
        let xs: [Double] = [-1e300, -50, 0, 0.1, 13, 49.5, 99.9, 100, 100.0.nextUp, 101, 1e15, Double.leastNonzeroMagnitude]
        let ys: [Double] = [-7, 0, 0.5, 7, 49.5, 50.5, 150]
        var compared = 0, violations = 0
        for (k, x) in xs.enumerated() {
            for (j, y) in ys.enumerated() {
                var v: [String: Double] = ["x": x, "y": y, "fused_risk": Double((k * 7 + j * 13) % 101),
                                           "privilege_escalation_depth": Double((k + j) % 5)]
                if (k + j) % 11 == 0 { v["y"] = nil }  // a missing value denies
                for agent in ["a", "bare"] {
                    let g = ground.check(agentID: agent, values: v), s = solver.check(agentID: agent, values: v)
                    #expect(g.verdict == s.verdict, "\(agent) \(v)")
                    #expect(g.violated == s.violated, "\(agent) \(v)")
                    #expect(g.explanation == s.explanation, "\(agent) \(v)")
                    if g.verdict != .holds { violations += 1 }
                    compared += 1
                }
            }
        }
        #expect(compared == xs.count * ys.count * 2)
        #expect(violations > 20 && violations < compared - 20)  // both outcomes were exercised
    }

    @Test func timing() throws {
        let e = try engine(["spending_ceiling_usd <= 150.00", "privilege_escalation_depth < 3", "fused_risk <= 74.0"])
        let n = 20_000
        var vals: [String: Double] = ["spending_ceiling_usd": 100, "privilege_escalation_depth": 0, "fused_risk": 30]
        let clock = ContinuousClock()
        let t = clock.measure {
            for i in 0..<n {
                vals["fused_risk"] = Double(i % 70)
                _ = e.check(agentID: "a", values: vals)
            }
        }
        let us = Double(t.components.attoseconds) / 1e12 / Double(n) + Double(t.components.seconds) * 1e6 / Double(n)
        print("prover timing: \(String(format: "%.1f", us)) µs per check (holds path, changing fused_risk)")
        vals["spending_ceiling_usd"] = 200
        let t2 = clock.measure {
            for i in 0..<2_000 {
                vals["fused_risk"] = Double(i % 70)
                _ = e.check(agentID: "a", values: vals)
            }
        }
        let us2 = Double(t2.components.attoseconds) / 1e12 / 2000 + Double(t2.components.seconds) * 1e6 / 2000
        print("prover timing: \(String(format: "%.1f", us2)) µs per check (violation path)")
        #expect(us < 5_000)
    }
}
