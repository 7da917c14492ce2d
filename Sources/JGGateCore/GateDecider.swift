import JGCrypto
import JGIPC
import JGJSON
import JGPolicy

/// Steps 1–14 of PROTOCOL.md §5, in that order; the first failing check answers.
public final class GateDecider {
    public var policy: Policy
    public var policyDigest: String
    public var keys: KeySet
    public let lineage: LineageStore
    /// Kernel denials per agent: (count, monotonic time of the last one).
    public var kernelDenials: [String: (count: Int, last: Double)] = [:]
    /// Observed risk added while an agent's processes were denied by the kernel in the last `kernelWindow` s.
    public static let kernelRiskBump = 20.0
    public static let kernelWindow = 300.0

    /// Agents whose processes opened a canary decoy (jg-kernel's open telemetry): every later request of
    /// theirs is DENY_CANARY_TRIPWIRE for the life of the gate. Value: what was opened.
    public var trippedAgents: [String: String] = [:]

    public func recordKernelDenial(agent: String, now: Double) {
        let c = kernelDenials[agent]?.count ?? 0
        kernelDenials[agent] = (c + 1, now)
    }

    public init(policy: Policy, keys: KeySet, lineage: LineageStore) {
        self.policy = policy
        self.policyDigest = policy.digest
        self.keys = keys
        self.lineage = lineage
    }

    public enum Outcome {
        /// Steps 1–2: answered, not audited.
        case reject(Token)
        /// Steps 3–14: denied here, audited by the broker.
        case deny(Token, reason: String, DecisionContext)
        /// Passed the gate: on to the prover.
        case forward(DecisionContext)
    }

    public func evaluate(body: [UInt8], peer: PeerCredentials, now: UInt64, observe: (PeerCredentials) -> PeerObservation = PeerObservation.observe) -> Outcome {
        // Steps 1–2.
        let env: Envelope
        do { env = try Envelope.parse(body) } catch {
            return .reject(error == .encoding ? .encodingError : .malformedPayload)
        }
        let payload: JSONValue
        do { payload = try JSONParser.parse(env.payload) } catch { return .reject(.malformedPayload) }

        var ctx = DecisionContext()
        ctx.peer = peer
        ctx.payloadDigest = Digest.sha256Hex(env.payload)
        ctx.policyDigest = policyDigest
        let claimed = Proposal.claimedAgentID(payload)
        ctx.agentID = claimed ?? ""

        // Step 3.
        guard keys.verify(payload: env.payload, signature: env.signature, claimedAgent: claimed, now: now) else {
            return .deny(.tamperedToken, reason: "HMAC signature does not match", ctx)
        }
        // Step 4.
        let p: Proposal
        do { p = try Proposal.parse(payload) } catch {
            return .deny(.malformedPayload, reason: error.reason, ctx)
        }
        ctx.sequence = p.sequenceCounter
        ctx.intent = p.intentName
        ctx.action = p.proposedAction
        ctx.execute = p.execute
        ctx.declaredRisk = p.actionRiskScore
        ctx.contextVars = p.contextVars
        var obs = observe(peer)
        if let a = p.agentID, let k = kernelDenials[a], Monotonic.now - k.last <= Self.kernelWindow {
            obs.kernelRisk = Self.kernelRiskBump
            obs.kernelSignal = "kernel_denials=\(k.count)"
        }
        ctx.signals = obs.signals
        ctx.lineage = "\(p.agentID ?? "")/\(peer.pid)/\(obs.startTime)"
        let scores = RiskScorer.score(p, observation: obs)
        ctx.riskClass = scores.riskClass
        ctx.semanticRisk = scores.semantic
        ctx.observedRisk = scores.observed
        ctx.topologyRisk = scores.topology
        ctx.fusedRisk = scores.fused

        // A connection whose connector could not be seen at the accept may belong to a locked runtime
        // (its socket handed on inside, the connector gone): never taken for one from outside.
        if obs.runtimeUnknown {
            return .deny(.identityBinding, reason: "the connecting process was gone before the accept: its runtime cannot be established", ctx)
        }
        // Step 5.
        guard let agentID = p.agentID else {
            if let r = obs.runtime { return .deny(.identityBinding, reason: "peer runs in the runtime of agent \(r.agent) and names no agent", ctx) }
            if policy.denyAnonymousAgents { return .deny(.anonymousAgent, reason: "no agent_id and anonymous agents are denied", ctx) }
            return anonymous(p, ctx, obs)
        }
        // Step 6.
        guard let agent = policy.agent(agentID) else {
            return .deny(.unknownAgent, reason: "agent_id not in the policy", ctx)
        }
        // Step 7: the runtime names the agent, whatever key signed the proposal.
        if let r = obs.runtime, r.agent != agentID {
            return .deny(.identityBinding, reason: "peer runs in the \(r.locked ? "locked runtime" : "governed cgroup") of agent \(r.agent), not \(agentID)", ctx)
        }
        if !agent.allowedPeerUIDs.isEmpty && !agent.allowedPeerUIDs.contains(peer.uid) {
            return .deny(.identityBinding, reason: "peer uid \(peer.uid) not in allowed_peer_uids", ctx)
        }
        // Step 8.
        guard lineage.accept(agent: agentID, sequence: p.sequenceCounter) else {
            return .deny(.replay, reason: "sequence_counter \(p.sequenceCounter) not above \(lineage.lastSequence(agentID))", ctx)
        }
        // Step 9: a tripped tripwire first, then the request's own text.
        if let opened = trippedAgents[agentID] {
            return .deny(.canary, reason: "agent opened canary decoy \"\(opened)\" earlier (tripwire)", ctx)
        }
        if let hit = canaryHit(p) { return .deny(.canary, reason: "canary resource \"\(hit)\" touched", ctx) }
        // Steps 10–14 are the policy's own verdicts: an agent in shadow mode goes on, its first would-be
        // denial noted for the broker to audit (AgentMode.swift).
        let shadow = agent.mode == .shadow
        func policyDeny(_ t: Token, _ reason: String) -> Outcome? {
            guard shadow else { return .deny(t, reason: reason, ctx) }
            if ShadowSignal.token(in: ctx.signals) == nil { ctx.signals.append(ShadowSignal.make(t.rawValue)) }
            return nil
        }
        // Step 10.
        if !agent.allowedIntents.isEmpty && !agent.allowedIntents.contains(p.intentName ?? "") {
            if let d = policyDeny(.intentNotAllowed, "intent \"\(p.intentName ?? "")\" not in allowed_intents") { return d }
        }
        // Step 11: delegation is not implemented, so no token can be honoured.
        if p.hasDelegationToken { return .deny(.delegationUnsupported, reason: "delegation tokens are not supported", ctx) }
        // Step 12.
        if let why = runtimeViolation(p, peer: peer, obs: obs, requireLocked: agent.requireSandboxNamespace) {
            // The locked-runtime requirement is the sandbox's: never relaxed in shadow mode (the rest is policy).
            if shadow, agent.requireSandboxNamespace || policy.runtime.requireSandboxNamespace,
               !(obs.runtime?.locked == true && obs.runtime?.agent == p.agentID) {
                return .deny(.runtimePolicy, reason: "peer does not run in the agent's locked runtime (jinnguard agent run)", ctx)
            }
            if let d = policyDeny(.runtimePolicy, why) { return d }
        }
        // Step 13.
        if !lineage.takeQuota(agent: agentID, quota: agent.maxSequenceQuota),
           let d = policyDeny(.quotaExhausted, "agent used its \(agent.maxSequenceQuota) decisions") { return d }
        // Step 14.
        let before = lineage.counters(agentID)
        lineage.record(agent: agentID, fusedRisk: scores.fused)
        if let limit = agent.maxRiskDrift, before.samples >= 5, scores.fused - before.meanRisk > limit {
            if let d = policyDeny(.behavioralDrift, "fused risk \(scores.fused) exceeds the agent's mean \(before.meanRisk) by more than \(limit)") { return d }
        }
        var after = lineage.counters(agentID)
        after.decisionsSeen = lineage.countSessionDecision(ctx.lineage)
        ctx.authoritative = authoritative(scores: scores, obs: obs, tier: agent.privilegeTier, counters: after)
        return .forward(ctx)
    }

    private func anonymous(_ p: Proposal, _ ctx: DecisionContext, _ obs: PeerObservation) -> Outcome {
        var ctx = ctx
        if let hit = canaryHit(p) { return .deny(.canary, reason: "canary resource \"\(hit)\" touched", ctx) }
        if p.hasDelegationToken { return .deny(.delegationUnsupported, reason: "delegation tokens are not supported", ctx) }
        if let why = runtimeViolation(p, peer: ctx.peer, obs: obs) { return .deny(.runtimePolicy, reason: why, ctx) }
        ctx.authoritative = authoritative(scores: RiskScorer.Scores(riskClass: ctx.riskClass, semantic: ctx.semanticRisk,
                                                                     observed: ctx.observedRisk, topology: ctx.topologyRisk, fused: ctx.fusedRisk),
                                          obs: obs, tier: 0, counters: LineageStore.Counters(decisionsSeen: 0, maxAssessedRisk: ctx.fusedRisk, meanRisk: 0, samples: 0))
        return .forward(ctx)
    }

    func canaryHit(_ p: Proposal) -> String? {
        guard !policy.canaryResources.isEmpty else { return nil }
        if canaryMatcherSource != policy.canaryResources {
            canaryMatcher = CanaryMatcher(policy.canaryResources)
            canaryMatcherSource = policy.canaryResources
        }
        var hay: [String] = []
        if let i = p.intentName { hay.append(i) }
        var shell: String?
        if let a = p.proposedAction {
            hay += [a.command, a.path, a.url, a.contents, a.method].compactMap { $0 }
            if a.kind == "shell_command" { shell = a.command }
        }
        return canaryMatcher.hit(texts: hay, shellCommand: shell)
    }
    private var canaryMatcher = CanaryMatcher([])
    private var canaryMatcherSource: [String] = []

    func runtimeViolation(_ p: Proposal, peer: PeerCredentials, obs: PeerObservation, requireLocked: Bool = false) -> String? {
        let rt = policy.runtime
        if rt.denyRootPeers && peer.uid == 0 { return "root peers are denied" }
        if !rt.allowedPeerUIDs.isEmpty && !rt.allowedPeerUIDs.contains(peer.uid) { return "peer uid \(peer.uid) not allowed by runtime_policy" }
        if rt.requireBrokeredExecution && p.proposedAction != nil && !p.execute {
            return "an action must be executed by the broker (verdict-only requests are refused)"
        }
        // The agent's own locked runtime (`jinnguard agent run`): its cgroup, not merely another pid namespace,
        // which any unprivileged process can make for itself.
        if (rt.requireSandboxNamespace || requireLocked) && !(obs.runtime?.locked == true && obs.runtime?.agent == p.agentID) {
            return "peer does not run in the agent's locked runtime (jinnguard agent run)"
        }
        return nil
    }

    func authoritative(scores: RiskScorer.Scores, obs: PeerObservation, tier: Int, counters: LineageStore.Counters) -> [(String, Double)] {
        let isRoot: Double = obs.uid == 0 ? 1 : 0
        let seen = Double(counters.decisionsSeen)
        return [
            ("fused_risk", scores.fused), ("trust_score", 100 - scores.fused), ("observed_risk", scores.observed),
            ("semantic_risk", scores.semantic), ("topology_risk", scores.topology), ("is_root", isRoot),
            ("privilege_tier", Double(tier)), ("decisions_seen", seen),
            ("max_assessed_risk", counters.maxAssessedRisk), ("privilege_escalation_depth", isRoot * seen),
        ]
    }
}
