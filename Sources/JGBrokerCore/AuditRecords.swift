import JGCrypto
import JGIPC
import JGJSON
import JGAudit

/// How one decision becomes one audit entry (PROTOCOL.md §8): who, what, the verdict, its reason, the
/// prover's explanation. Command lines, paths and contents stay out of the chain: the action appears as
/// its kind and a digest, so erasing personal data never breaks verification.
public enum AuditRecords {
    /// The subject whose personal data a decision carries: the peer's account.
    public static func subject(_ ctx: DecisionContext) -> String { "uid:\(ctx.peer.uid)" }

    /// What is personal about a decision, sealed outside the chain.
    public static func personalData(_ ctx: DecisionContext) -> JSONValue {
        var p: [(String, JSONValue)] = [
            ("peer_pid", .integer(.signed(Int64(ctx.peer.pid)))), ("peer_uid", .integer(.unsigned(UInt64(ctx.peer.uid)))),
            ("peer_gid", .integer(.unsigned(UInt64(ctx.peer.gid)))), ("lineage", .string(ctx.lineage)),
            ("signals", .array(ctx.signals.map { .string($0) })),
        ]
        if let a = ctx.action {
            p.append(("command", a.command.map { .string($0) } ?? .null))
            p.append(("path", a.path.map { .string($0) } ?? .null))
            p.append(("url", a.url.map { .string($0) } ?? .null))
            // A record the gate held carries the contents as their digest only.
            let contents = a.contents.map { Digest.sha256Hex($0) } ?? ctx.digestedContents?.contentsDigest
            p.append(("contents_digest", contents.map { .string($0) } ?? .null))
            // The raw arguments of an MCP call, sealed outside the chain like every other personal field.
            if a.kind == MCPActionKinds.call, let c = a.contents { p.append(("arguments", .string(c))) }
        }
        return .object(p)
    }

    /// `sealed` gives the subject's pseudonym and the commitment to its sealed data; without a store the
    /// personal fields are left out entirely.
    public static func decision(_ ctx: DecisionContext, token: String, reason: String, stage: String,
                                violated: [String] = [], constraints: Constraints? = nil,
                                shadow: (token: String, reason: String)? = nil,
                                sealed: (pseudonym: String, commitment: String)? = nil) -> AuditEntryParts {
        // Only flags that say nothing about who the peer is stay in the chain.
        let flags = ctx.signals.filter { !$0.hasPrefix("exe=") }
        var obs: [(String, JSONValue)] = []
        obs.reserveCapacity(4)
        obs.append(("agent_id", .string(ctx.agentID)))
        if let s = sealed {
            obs.append(("subject", .string(s.pseudonym)))
            obs.append(("personal_data", .string(s.commitment)))
        }
        obs.append(("signals", .array(flags.map { .string($0) })))
        let observation: JSONValue = .object(obs)
        // Sized up front: the literal-then-append form reallocates on the always-present "signals".
        var intent: [(String, JSONValue)] = []
        intent.reserveCapacity(8)
        intent.append(("class", .string(ctx.riskClass.isEmpty ? "Unclassified" : ctx.riskClass)))
        intent.append(("intent_name", ctx.intent.map { .string($0) } ?? .null))
        intent.append(("sequence_counter", .integer(.unsigned(ctx.sequence))))
        intent.append(("payload_digest", .string(ctx.payloadDigest)))
        intent.append(("execute", .bool(ctx.execute)))
        if let a = ctx.action {
            intent.append(("action_kind", .string(a.kind)))
            intent.append(("action_digest", .string(ctx.digestedContents?.actionDigest ?? actionDigest(a))))
            if MCPActionKinds.all.contains(a.kind) { intent += mcpFields(a, ctx) }
        }
        intent.append(("signals", .array([])))
        var assessment: [(String, JSONValue)] = [
            ("semantic_risk", .number(ctx.semanticRisk)), ("observed_risk", .number(ctx.observedRisk)),
            ("topology_risk", .number(ctx.topologyRisk)), ("fused_risk", .number(ctx.fusedRisk)),
            ("trust_score", .number(ctx.trustScore)),
            ("declared_risk", ctx.declaredRisk.map { .number($0) } ?? .null),
            ("policy_digest", .string(ctx.policyDigest)),
        ]
        if !violated.isEmpty { assessment.append(("violated_invariants", .array(violated.map { .string($0) }))) }
        var decision: [(String, JSONValue)] = [
            ("verdict", .string(token)), ("reason", .string(reason)), ("stage", .string(stage)),
            ("request_id", .integer(.unsigned(ctx.requestID))),
        ]
        // Shadow mode: `verdict` is the effective one; what the policy would have answered is beside it.
        if let sh = shadow {
            decision.append(("mode", .string("shadow")))
            decision.append(("would_be_verdict", .string(sh.token)))
            decision.append(("would_be_reason", .string(sh.reason)))
        }
        if let c = constraints {
            decision.append(("constraints", .object([
                ("redact_output", .bool(c.redactOutput)), ("rate_limit_rps", .integer(.signed(Int64(c.rateLimitRPS)))),
                ("output_byte_limit", .integer(.signed(Int64(c.outputByteLimit)))),
            ])))
        }
        return AuditEntryParts(observation: observation, intent: .object(intent), assessment: .object(assessment), decision: .object(decision))
    }

    /// The outcome of an execution, recorded after it ran.
    /// `replyToken` names the DENY_ token the agent was answered with when the action was refused at the
    /// last step (after its ALLOW was recorded): a full run queue, a passed deadline, a target that is no
    /// regular file, a sandbox layer that could not be applied.
    public static func outcome(_ ctx: DecisionContext, result: JSONValue, executed: Bool, sandbox: [String] = [],
                               sandboxMissing: [String] = [], replyToken: String? = nil) -> AuditEntryParts {
        var d: [(String, JSONValue)] = [("verdict", .string(executed ? "EXECUTED" : "NOT_EXECUTED")),
                                        ("request_id", .integer(.unsigned(ctx.requestID)))]
        if let t = replyToken { d.append(("reply_token", .string(t))) }
        if case let .integer(code)? = result["exit_code"] { d.append(("exit_code", .integer(code))) }
        if let e = result["error"] { d.append(("error", e)) }
        for k in ["stdout", "stderr"] {
            if case let .string(s)? = result[k] {
                d.append(("\(k)_bytes", .integer(.signed(Int64(s.utf8.count)))))
                d.append(("\(k)_digest", .string(Digest.sha256Hex(s))))
            }
        }
        if case let .integer(n)? = result["bytes_written"] { d.append(("bytes_written", .integer(n))) }
        for k in ["stdout_truncated", "stderr_truncated", "truncated"] where result[k] == .bool(true) { d.append((k, .bool(true))) }
        if !sandbox.isEmpty { d.append(("sandbox", .array(sandbox.map { .string($0) }))) }
        if !sandboxMissing.isEmpty { d.append(("sandbox_missing", .array(sandboxMissing.map { .string($0) }))) }
        return AuditEntryParts(
            observation: .object([("agent_id", .string(ctx.agentID))]),
            intent: .object([("class", .string("Execution")), ("sequence_counter", .integer(.unsigned(ctx.sequence))),
                             ("action_kind", .string(ctx.action?.kind ?? "")), ("signals", .array([]))]),
            assessment: .object([]),
            decision: .object(d))
    }

    public static func actionDigest(_ a: ProposedAction) -> String { a.auditDigest }

    /// An MCP gateway record names the server, the tool and the digests (MCPActionKinds): never the raw
    /// arguments, which are personal data (sealed with the rest, `personalData`).
    static func mcpFields(_ a: ProposedAction, _ ctx: DecisionContext) -> [(String, JSONValue)] {
        var f: [(String, JSONValue)] = []
        if let u = a.url, u.hasPrefix("mcp://") {
            let rest = u.dropFirst(6)
            let server = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            f.append(("mcp_server", .string(server)))
        }
        f.append(("mcp_tool", a.method.map { .string($0) } ?? .null))
        switch a.kind {
        case MCPActionKinds.call:
            let d = a.contents.map { Digest.sha256Hex($0) } ?? ctx.digestedContents?.contentsDigest
            f.append(("arguments_digest", d.map { .string($0) } ?? .null))
        case MCPActionKinds.result:
            f.append(("arguments_digest", a.path.map { .string($0) } ?? .null))
            f.append(("result_digest", a.contents.map { .string($0) } ?? .null))
        default:
            f.append(("arguments_digest", a.path.map { .string($0) } ?? .null))
        }
        return f
    }

    /// An event of the daemon itself (kernel planes, recoveries, shutdown).
    /// An event about one agent (a canary tripwire, an operator's counter reset, a journal failure).
    public static func agentEvent(_ cls: String, agent: String, source: String, details: [(String, JSONValue)]) -> AuditEntryParts {
        event(cls, signals: ["agent=\(agent)", "component=\(source)"], details: [("agent", .string(agent))] + details)
    }

    public static func event(_ cls: String, signals: [String], details: [(String, JSONValue)]) -> AuditEntryParts {
        AuditEntryParts(observation: .object([]), intent: .object([("class", .string(cls)), ("signals", .array(signals.map { .string($0) }))]),
                        assessment: .object([]), decision: .object(details))
    }
}
