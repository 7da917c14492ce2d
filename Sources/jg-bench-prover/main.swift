import Foundation
// `make bench` (prover part): request-time checks on a kept engine against a fresh Z3 context per
// check, and whole-policy analysis time. Prints one Markdown section for BENCHMARKS.md.
import Glibc
import JGPolicy
import JGPolicyYAML
import JGProverCore

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

struct Stats {
    var sorted: [UInt64]
    init(_ xs: [UInt64]) { sorted = xs.sorted() }
    func pct(_ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let i = min(sorted.count - 1, Int((p / 100) * Double(sorted.count - 1) + 0.5))
        return Double(sorted[i]) / 1000  // µs
    }
    var median: Double { pct(50) }
    var p99: Double { pct(99) }
    var max: Double { Double(sorted.last ?? 0) / 1000 }
}

func fail(_ s: String) -> Never {
    FileHandle.standardError.write(Data("jg-bench-prover: \(s)\n".utf8))
    exit(1)
}

let invariants = [
    "spending_ceiling_usd <= 150.00",
    "privilege_escalation_depth < 3",
    "fused_risk <= 89.0",
    "x + 2*y <= 100",
    "z != 7 || trust_score > 50",
]

func agentYAML(_ id: String, _ invs: [String]) -> String {
    "  - id: \(id)\n    privilege_tier: 1\n    invariants:\n" + invs.map { "      - \"\($0)\"\n" }.joined()
}

let onePolicyText = "global_safety_ceiling: 90\nagent_nodes:\n" + agentYAML("bench", invariants)
let onePolicy: Policy
do { onePolicy = try PolicyLoader.load(text: onePolicyText, sourceName: "bench.yaml") } catch { fail("\(error)") }

func values(_ i: Int) -> [String: Double] {
    // Vary values so that no cache answers for Z3; every 10th request is a denial.
    ["spending_ceiling_usd": Double(i % 140) + 0.5 + (i % 10 == 0 ? 200 : 0), "privilege_escalation_depth": 0,
     "fused_risk": Double(i % 50), "trust_score": 100 - Double(i % 50), "x": Double(i % 50), "y": 10, "z": Double(i % 9)]
}

// 1. Kept engine, in the daemon's mode (ground evaluation) and in the incremental-solver mode.
let keptN = 10_000
func keptRun(_ mode: ProverEngine.CheckMode) -> (Stats, Double) {
    let engine = ProverEngine(mode: mode)
    do { try engine.load(policy: onePolicy) } catch { fail("\(error)") }
    for i in 0..<500 { _ = engine.check(agentID: "bench", values: values(i)) }
    var kept: [UInt64] = []
    kept.reserveCapacity(keptN)
    var denials = 0
    let keptStart = now()
    for i in 0..<keptN {
        let v = values(i)
        let t0 = now()
        let o = engine.check(agentID: "bench", values: v)
        kept.append(now() - t0)
        if o.verdict != .holds { denials += 1 }
        if o.verdict == .unknown { fail("unknown verdict: \(o.explanation)") }
    }
    let wall = Double(now() - keptStart) / 1e9
    if denials != keptN / 10 { fail("\(mode): expected \(keptN / 10) denials, got \(denials)") }
    return (Stats(kept), wall)
}
let (k, keptWall) = keptRun(.ground)
let (ks, solverWall) = keptRun(.solver)

// 2. Baseline: a fresh context (engine) per check, same policy and values.
let freshN = 300
var fresh: [UInt64] = []
for i in 0..<freshN {
    let v = values(i)
    let t0 = now()
    let e = ProverEngine(mode: .ground)
    do { try e.load(policy: onePolicy) } catch { fail("\(error)") }
    _ = e.check(agentID: "bench", values: v)
    fresh.append(now() - t0)
}

// 3. Analysis of 1,000 agents × 5 invariants (a mix: mostly clean, some redundant, some vacuous).
var big = "global_safety_ceiling: 90\nagent_nodes:\n"
for a in 0..<1_000 {
    var invs = [
        "spending_ceiling_usd <= \(100 + a % 50).00",
        "privilege_escalation_depth < \(1 + a % 3)",
        "fused_risk <= \(60 + a % 30)",
        "x\(a % 7) + 2*y <= \(100 + a)",
        "z != 7 || trust_score > \(20 + a % 40)",
    ]
    if a % 10 == 1 { invs[3] = "spending_ceiling_usd <= 500" }       // redundant
    if a % 100 == 2 { invs[4] = "spending_ceiling_usd > 1000" }      // contradiction
    big += agentYAML("agent_\(a)", invs)
}
let bigPolicy: Policy
let loadT0 = now()
do { bigPolicy = try PolicyLoader.load(text: big, sourceName: "big.yaml") } catch { fail("\(error)") }
let loadT = Double(now() - loadT0) / 1e6
let compileEngine = ProverEngine()
let compileT0 = now()
do { try compileEngine.load(policy: bigPolicy) } catch { fail("\(error)") }
let compileT = Double(now() - compileT0) / 1e6
var analysisRuns: [UInt64] = []
var analysis = PolicyAnalysis()
for _ in 0..<3 {
    let t0 = now()
    analysis = PolicyAnalyzer.analyze(bigPolicy, engine: compileEngine)
    analysisRuns.append(now() - t0)
}
let analysisMs = Double(analysisRuns.sorted()[1]) / 1e6
let diffT0 = now()
let diff = PolicyDiff.diff(old: bigPolicy, new: bigPolicy, engine: compileEngine)
let diffMs = Double(now() - diffT0) / 1e6
if diff.verdict != .equivalent { fail("a policy differs from itself: \(diff.verdict)") }

let f = Stats(fresh)
func us(_ d: Double) -> String { d >= 100 ? String(Int(d.rounded())) : String(Double(Int(d * 10)) / 10) }
func ms(_ d: Double) -> String { String(Double(Int(d * 10)) / 10) }
print("""
## Prover (`jg-bench-prover`)

One request-time check of an agent with 5 invariants (linear, `||`, `!=`, daemon variables), \(keptN) checks
on a kept engine (one Z3 context, invariants compiled once; 10% denials), against a fresh Z3 context per
check (\(freshN) checks), in the same run. The daemon decides in **ground** mode: every variable has a value
at request time, so Z3 substitutes the values (exact rationals) into each compiled invariant and its rewriter
evaluates the ground formula to true or false. The **solver** mode is the previous design, kept as the fallback
for anything the rewriter leaves undecided and as the cross-check in the unit tests (`groundAndSolverPathsAgree`):
push, `var == value` assertions, `check_assumptions` over tracking literals, unsat cores on denials, pop.

| measure | kept engine, ground (daemon) | kept engine, solver | fresh context per check | ratio (fresh / kept ground) |
|---|---:|---:|---:|---:|
| median | \(us(k.median)) µs | \(us(ks.median)) µs | \(us(f.median)) µs | \(Int((f.median / k.median).rounded()))× |
| P99 | \(us(k.p99)) µs | \(us(ks.p99)) µs | \(us(f.p99)) µs | \(Int((f.p99 / k.p99).rounded()))× |
| max | \(us(k.max)) µs | \(us(ks.max)) µs | \(us(f.max)) µs | |
| throughput | \(Int(Double(keptN) / keptWall)) checks/s | \(Int(Double(keptN) / solverWall)) checks/s | \(Int(1e6 / f.median)) checks/s | |

Policy of 1,000 agents × 5 invariants (target: analysis ≤ 2 s):

| step | time |
|---|---:|
| YAML load + parse | \(ms(loadT)) ms |
| compile into Z3 (1,000 agents) | \(ms(compileT)) ms |
| analysis (vacuity, minimal cores, redundancy, ceiling; median of 3) | \(ms(analysisMs)) ms |
| diff against itself (2 implication checks per agent) | \(ms(diffMs)) ms |

Analysis found \(analysis.errors.count) errors and \(analysis.warnings.count) warnings (the generated policy plants 10 contradictions and 100 redundant bounds).

Against the targets of this check: median ≤ 20 µs — \(k.median <= 20 ? "met" : "**missed** (\(us(k.median)) µs, \(String(format: "%.1f", k.median / 20))×)");
≥ 100× faster than a fresh context — \(f.median / k.median >= 100 ? "met" : "**missed** (\(Int((f.median / k.median).rounded()))×)");
analysis ≤ 2 s — \(analysisMs <= 2000 ? "met" : "**missed**").
""")
