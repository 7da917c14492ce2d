/// What an agent proposed, as `proposed_action`.
public struct ProposedAction: Sendable, Equatable {
    public var kind: String
    public var command: String?
    public var path: String?
    public var contents: String?
    public var url: String?
    public var method: String?

    public init(kind: String, command: String? = nil, path: String? = nil, contents: String? = nil,
                url: String? = nil, method: String? = nil) {
        self.kind = kind
        self.command = command
        self.path = path
        self.contents = contents
        self.url = url
        self.method = method
    }
}

/// An action's contents as a held audit record keeps them: their digest and length, and the digest of
/// the whole action as it was.
public struct DigestedContents: Sendable, Equatable {
    public var actionDigest: String
    public var contentsDigest: String
    public var contentsLength: Int

    public init(actionDigest: String, contentsDigest: String, contentsLength: Int) {
        self.actionDigest = actionDigest
        self.contentsDigest = contentsDigest
        self.contentsLength = contentsLength
    }
}

/// Everything later stages need about one request, as the gate established it. The prover adds the
/// verdict; the broker audits it and, for an ALLOW, acts on it.
public struct DecisionContext: Sendable {
    public var requestID: UInt64 = 0
    /// Empty when the agent is anonymous or unknown before parsing.
    public var agentID = ""
    public var peer = PeerCredentials(pid: 0, uid: 0, gid: 0)
    /// agent id, peer pid and pid start time: the lineage session.
    public var lineage = ""
    public var sequence: UInt64 = 0
    public var intent: String?
    /// SHA-256 of the signed payload string.
    public var payloadDigest = ""
    public var execute = false
    public var action: ProposedAction?
    public var semanticRisk = 0.0
    public var observedRisk = 0.0
    public var topologyRisk = 0.0
    public var fusedRisk = 0.0
    public var declaredRisk: Double?
    public var riskClass = ""
    /// What the gate observed of the peer: "uid0", "exe_unreadable", "pidns_unobservable", "exe=…".
    public var signals: [String] = []
    /// Caller-declared invariant variables (`context_vars`).
    public var contextVars: [(String, Double)] = []
    /// Daemon-authoritative variables; they override any caller value of the same name.
    public var authoritative: [(String, Double)] = []
    public var policyDigest = ""
    /// CLOCK_MONOTONIC seconds (system-wide) by which the prover must have decided; later decisions are refused.
    public var proverDeadline = 0.0
    /// CLOCK_MONOTONIC seconds (system-wide) until which the gate waits for the broker's reply. The broker
    /// starts no action it could not finish and report before it, so an action the gate reported as
    /// refused never runs afterwards.
    public var replyDeadline = 0.0
    /// Set on a record the gate holds for the audit log without the action's bulk: `action.contents` is
    /// then nil and these digests stand for it in the record (what the chain and the sealed data hold).
    public var digestedContents: DigestedContents?

    public init() {}

    public var trustScore: Double { 100 - fusedRisk }

    public func encode(into w: inout LinkWriter) {
        w.u64(requestID); w.string(agentID)
        w.i64(Int64(peer.pid)); w.u32(peer.uid); w.u32(peer.gid)
        w.string(lineage); w.u64(sequence); w.optString(intent); w.string(payloadDigest); w.bool(execute)
        w.bool(action != nil)
        if let a = action {
            w.string(a.kind); w.optString(a.command); w.optString(a.path); w.optString(a.contents)
            w.optString(a.url); w.optString(a.method)
        }
        w.f64(semanticRisk); w.f64(observedRisk); w.f64(topologyRisk); w.f64(fusedRisk)
        w.bool(declaredRisk != nil)
        if let d = declaredRisk { w.f64(d) }
        w.string(riskClass); w.strings(signals); w.pairs(contextVars); w.pairs(authoritative); w.string(policyDigest)
        w.f64(proverDeadline); w.f64(replyDeadline)
        w.bool(digestedContents != nil)
        if let d = digestedContents { w.string(d.actionDigest); w.string(d.contentsDigest); w.u64(UInt64(d.contentsLength)) }
    }

    public static func decode(from r: inout LinkReader) -> DecisionContext? {
        var c = DecisionContext()
        guard let id = r.u64(), let agent = r.string(), let pid = r.i64(), let uid = r.u32(), let gid = r.u32(),
              let lineage = r.string(), let seq = r.u64(), let intent = r.optString(), let digest = r.string(),
              let exec = r.bool(), let hasAction = r.bool() else { return nil }
        // The gate writes an Int32 pid widened; anything else is not a pid, and truncating it would name
        // some other process (found by the fuzz target `link`).
        guard let pid32 = Int32(exactly: pid) else { return nil }
        c.requestID = id; c.agentID = agent
        c.peer = PeerCredentials(pid: pid32, uid: uid, gid: gid)
        c.lineage = lineage; c.sequence = seq; c.intent = intent; c.payloadDigest = digest; c.execute = exec
        if hasAction {
            guard let kind = r.string(), let cmd = r.optString(), let path = r.optString(), let contents = r.optString(),
                  let url = r.optString(), let method = r.optString() else { return nil }
            c.action = ProposedAction(kind: kind, command: cmd, path: path, contents: contents, url: url, method: method)
        }
        guard let s = r.f64(), let o = r.f64(), let t = r.f64(), let f = r.f64(), let hasDeclared = r.bool() else { return nil }
        c.semanticRisk = s; c.observedRisk = o; c.topologyRisk = t; c.fusedRisk = f
        if hasDeclared {
            guard let d = r.f64() else { return nil }
            c.declaredRisk = d
        }
        guard let cls = r.string(), let sig = r.strings(), let cv = r.pairs(), let av = r.pairs(), let pd = r.string(),
              let dl = r.f64(), let rd = r.f64() else { return nil }
        c.riskClass = cls; c.signals = sig; c.contextVars = cv; c.authoritative = av; c.policyDigest = pd; c.proverDeadline = dl
        c.replyDeadline = rd
        guard let digested = r.bool() else { return nil }
        if digested {
            guard let ad = r.string(), let cd = r.string(), let n = r.u64(), let length = Int(exactly: n) else { return nil }
            c.digestedContents = DigestedContents(actionDigest: ad, contentsDigest: cd, contentsLength: length)
        }
        return c
    }
}

/// CONSTRAIN's limits, enforced by the broker (PROTOCOL.md §5).
public struct Constraints: Sendable, Equatable {
    public var redactOutput: Bool
    public var rateLimitRPS: Int
    public var allowedNetworkDestinations: [String]
    public var outputByteLimit: Int

    public init(redactOutput: Bool, rateLimitRPS: Int = 5, allowedNetworkDestinations: [String] = [], outputByteLimit: Int = 65536) {
        self.redactOutput = redactOutput
        self.rateLimitRPS = rateLimitRPS
        self.allowedNetworkDestinations = allowedNetworkDestinations
        self.outputByteLimit = outputByteLimit
    }
}

/// The prover's answer, handed to the broker with the context.
public struct ProverDecision: Sendable {
    /// "ALLOW", "CONSTRAIN" or a DENY_ token.
    public var token: String
    public var explanation: String
    public var violated: [String]
    public var constraints: Constraints?

    public init(token: String, explanation: String, violated: [String] = [], constraints: Constraints? = nil) {
        self.token = token
        self.explanation = explanation
        self.violated = violated
        self.constraints = constraints
    }

    public func encode(into w: inout LinkWriter) {
        w.string(token); w.string(explanation); w.strings(violated)
        w.bool(constraints != nil)
        if let c = constraints {
            w.bool(c.redactOutput); w.u32(UInt32(c.rateLimitRPS)); w.strings(c.allowedNetworkDestinations); w.u32(UInt32(c.outputByteLimit))
        }
    }

    public static func decode(from r: inout LinkReader) -> ProverDecision? {
        guard let t = r.string(), let e = r.string(), let v = r.strings(), let hasC = r.bool() else { return nil }
        var d = ProverDecision(token: t, explanation: e, violated: v)
        if hasC {
            guard let red = r.bool(), let rps = r.u32(), let dest = r.strings(), let lim = r.u32() else { return nil }
            d.constraints = Constraints(redactOutput: red, rateLimitRPS: Int(rps), allowedNetworkDestinations: dest, outputByteLimit: Int(lim))
        }
        return d
    }
}
