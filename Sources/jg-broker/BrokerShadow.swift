import JGIPC
import JGPolicy

/// Shadow mode (AgentMode.swift) in jg-broker: the prover's policy verdicts (invariants, the ceiling) and
/// the gate's (noted in the signals) become the would-be verdict; the effective one is the risk band.
/// The broker's own rules run after this and are never relaxed.
extension BrokerServer {
    static let shadowRelaxed: Set<String> = ["DENY_VIOLATION", "DENY_RISK_CEILING_EXCEEDED"]

    func applyShadow(_ item: inout WorkItem, _ d: ProverDecision) {
        guard let policy, policy.agent(item.context.agentID)?.mode == .shadow else { return }
        if let gateToken = ShadowSignal.token(in: item.context.signals) {
            noteShadow(&item, gateToken, "jg-gate: \(gateToken) (shadow mode)")
        }
        guard Self.shadowRelaxed.contains(item.token), item.stage == "prover" else { return }
        noteShadow(&item, item.token, item.reason)
        let ceiling = policy.globalSafetyCeiling
        let fused = item.context.fusedRisk
        if fused >= 0.40 * ceiling {
            item.token = "CONSTRAIN"
            item.constraints = Constraints(redactOutput: fused >= 0.6375 * ceiling,
                                           allowedNetworkDestinations: policy.agent(item.context.agentID)?.allowedNetworkDestinations ?? [])
        } else {
            item.token = "ALLOW"
            item.constraints = nil
        }
        item.violated = []
        item.reason = "shadow mode: proceeds on the risk band (fused_risk=\(fused))"
    }

    /// The first would-be denial is the one recorded (the evaluation order of PROTOCOL.md §5).
    func noteShadow(_ item: inout WorkItem, _ token: String, _ reason: String) {
        guard item.shadow == nil else { return }
        item.shadow = (token, reason)
        if let k = item.context.action?.kind, MCPActionKinds.notes.contains(k) { return }
        shadowWouldDeny[token, default: 0] += 1
        shadowDirty = true
    }
}
