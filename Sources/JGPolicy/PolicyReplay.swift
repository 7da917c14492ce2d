import JGJSON

/// `jinnguard policy replay --policy NEW AUDIT_LOG`: which recorded decisions a new policy would decide
/// differently. Only the policy's own verdicts can be re-derived from a record — the agent, its allowed
/// intents, invariants over the risk scores the record holds, the ceiling, approval and the risk band — so
/// a record denied for anything else (signature, replay, quota, drift, canary, hard rules…) is skipped, and
/// one whose invariants need a value the record does not hold (context_vars, is_root…) is undecidable.
/// Invariants are evaluated in double arithmetic here (the daemon decides them exactly, in Z3).
public enum PolicyReplay {
    public struct Recorded: Sendable, Equatable {
        public var index: UInt64
        public var agent: String
        public var intent: String?
        public var scores: [String: Double]
        /// The policy's verdict as recorded: the shadow mode's would-be verdict if any, a hold for a call a
        /// human then approved.
        public var verdict: String
    }

    static let replayable: Set<String> = ["ALLOW", "CONSTRAIN", "DENY_UNKNOWN_AGENT_ID", "DENY_INTENT_NOT_ALLOWED",
                                          "DENY_VIOLATION", "DENY_RISK_CEILING_EXCEEDED", "DENY_HOLD_PENDING_REVIEW"]
    static let scoreNames = ["fused_risk", "trust_score", "semantic_risk", "observed_risk", "topology_risk"]

    /// The decision a line records, or nil for anything else (boot, events, outcomes, MCP result notes,
    /// denials replay cannot re-derive).
    public static func recorded(_ line: String) -> Recorded? {
        guard let v = try? JSONParser.parse(line), case let .integer(i)? = v["index"], let index = i.uint64,
              let d = v["decision"], let stage = d["stage"]?.stringValue, var verdict = d["verdict"]?.stringValue,
              let agent = v["observation"]?["agent_id"]?.stringValue else { return nil }
        if let k = v["intent"]?["action_kind"]?.stringValue, k == "mcp_tool_result" || k == "mcp_tool_cancel" { return nil }
        if let w = d["would_be_verdict"]?.stringValue { verdict = w }
        if verdict == "ALLOW" || verdict == "CONSTRAIN", d["reason"]?.stringValue?.hasPrefix("approved by operator") == true {
            verdict = "DENY_HOLD_PENDING_REVIEW"
        }
        // A broker hard rule is not the policy's verdict, though it shares DENY_VIOLATION's name.
        if verdict == "DENY_VIOLATION" && stage != "prover" { return nil }
        guard replayable.contains(verdict) else { return nil }
        var scores: [String: Double] = [:]
        for n in scoreNames { if let x = v["assessment"]?[n]?.doubleValue { scores[n] = x } }
        return Recorded(index: index, agent: agent, intent: v["intent"]?["intent_name"]?.stringValue, scores: scores, verdict: verdict)
    }

    public enum Outcome: Sendable, Equatable {
        case verdict(String)
        case undecidable(String)
    }

    /// The verdict `policy` gives the recorded decision (the policy's own: in shadow mode, the would-be one).
    public static func evaluate(_ r: Recorded, policy: Policy) -> Outcome {
        guard let a = policy.agent(r.agent) else { return .verdict("DENY_UNKNOWN_AGENT_ID") }
        if !a.allowedIntents.isEmpty && !a.allowedIntents.contains(r.intent ?? "") { return .verdict("DENY_INTENT_NOT_ALLOWED") }
        for inv in a.invariants {
            let missing = inv.expression.variables.filter { r.scores[$0] == nil }
            guard missing.isEmpty else {
                return .undecidable("invariant \"\(inv.text)\" needs \(missing.joined(separator: ", ")), not in the record")
            }
            if !holds(inv.expression, r.scores) { return .verdict("DENY_VIOLATION") }
        }
        let fused = r.scores["fused_risk"] ?? 0
        if fused > policy.globalSafetyCeiling { return .verdict("DENY_RISK_CEILING_EXCEEDED") }
        if let rule = a.requireApproval, rule.requires(intent: r.intent, fusedRisk: fused) { return .verdict("DENY_HOLD_PENDING_REVIEW") }
        return .verdict(fused >= 0.40 * policy.globalSafetyCeiling ? "CONSTRAIN" : "ALLOW")
    }

    static func holds(_ e: InvariantExpr, _ v: [String: Double]) -> Bool {
        switch e {
        case let .compare(l, op, r):
            let x = value(l, v), y = value(r, v)
            switch op {
            case .le: return x <= y
            case .ge: return x >= y
            case .lt: return x < y
            case .gt: return x > y
            case .eq: return x == y
            case .ne: return x != y
            }
        case let .and(a, b): return holds(a, v) && holds(b, v)
        case let .or(a, b): return holds(a, v) || holds(b, v)
        case let .not(a): return !holds(a, v)
        }
    }

    static func value(_ t: LinearTerm, _ v: [String: Double]) -> Double {
        t.coefficients.reduce(t.constant.doubleValue) { $0 + $1.value.doubleValue * (v[$1.key] ?? 0) }
    }
}
