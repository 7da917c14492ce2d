import Glibc
import JGCrypto
import JGIPC
import JGPolicy
import JGProverCore

final class ProverServer {
    let loop: EventLoop
    let engine = ProverEngine()
    var policy: Policy?
    var gate: LinkEndpoint?
    var broker: LinkEndpoint?

    init(loop: EventLoop) { self.loop = loop }
    /// A link broke by itself: main hands this to the control channel (the supervisor re-pairs).
    var linkBroken: (Component) -> Void = { _ in }

    func configure(policy canonical: String) -> (Bool, String) {
        let p: Policy
        do { p = try CanonicalPolicy.decode(canonical) } catch { return (false, error.description) }
        do { try engine.load(policy: p) } catch { return (false, "\(p.sourceName):\(error.line): \(error.reason)") }
        policy = p
        ResidentMemory.releaseFreePages()  // the previous policy's terms and the YAML tree
        return (true, "\(p.agents.reduce(0) { $0 + $1.invariants.count }) invariants compiled")
    }

    func link(_ peer: Component, _ fd: OwnedFD) {
        guard let ep = try? LinkEndpoint(peer: peer, fd: fd, loop: loop) else { return }
        ep.onBreak = { [unowned self] in self.linkBroken(peer) }
        switch peer {
        case .gate:
            gate?.close()
            gate = ep
            ep.onMessage = { [unowned self] r throws(LinkProtocolError) in try self.fromGate(&r) }
        case .broker:
            broker?.close()
            broker = ep
            ep.onMessage = { r throws(LinkProtocolError) in
                throw LinkProtocolError(link: "broker→prover", reason: "no message allowed in this direction (\(r.type))")
            }
        default:
            Log.warn("no link expected with \(peer.rawValue)")
        }
    }

    func fromGate(_ r: inout LinkReader) throws(LinkProtocolError) {
        guard GateToProver(rawValue: r.type) == .check, let ctx = DecisionContext.decode(from: &r), r.atEnd else {
            throw LinkProtocolError(link: "gate→prover", reason: "unexpected or malformed message \(r.type)")
        }
        // A request whose deadline passed was already answered by the gate: deciding it now would be wasted.
        guard Monotonic.now <= ctx.proverDeadline else {
            abort(ctx.requestID, "DENY_PROVER_TIMEOUT", "reached jg-prover after its deadline")
            return
        }
        let decision = decide(ctx)
        guard let broker, broker.isOpen else {
            abort(ctx.requestID, "DENY_COMPONENT_UNAVAILABLE", "jg-broker is not linked to jg-prover")
            return
        }
        var notice = LinkWriter(type: ProverToGate.forwarded.rawValue)
        notice.u64(ctx.requestID)
        gate?.send(notice)
        var w = LinkWriter(type: ProverToBroker.decided.rawValue)
        decision.encode(into: &w)
        ctx.encode(into: &w)
        if !broker.send(w) { abort(ctx.requestID, "DENY_COMPONENT_UNAVAILABLE", "jg-broker link failed") }
    }

    /// The orderly stop (main.swift): decide what the gate already sent, then write everything out.
    func stop() {
        gate?.receiveRemaining(timeout: 1.0)
        broker?.flushAll(timeout: 1.0)
        gate?.flushAll(timeout: 1.0)
        Log.info("stopped: every request taken was decided")
    }

    func abort(_ id: UInt64, _ token: String, _ reason: String) {
        var w = LinkWriter(type: ProverToGate.abort.rawValue)
        w.u64(id); w.string(token); w.string(reason)
        gate?.send(w)
    }

    /// Steps 15, 16 and 19–20: invariants, the ceiling, then the band.
    func decide(_ ctx: DecisionContext) -> ProverDecision {
        guard let policy, engine.policyLoaded else { return ProverDecision(token: "DENY_COMPONENT_UNAVAILABLE", explanation: "no policy loaded") }
        var values: [String: Double] = [:]
        for (k, v) in ctx.contextVars { values[k] = v }
        // Daemon-authoritative values are applied last: a caller can never override them.
        for (k, v) in ctx.authoritative { values[k] = v }
        if ctx.agentID.isEmpty {
            // Anonymous (permitted by policy): only the global ceiling applies.
            let ceiling = policy.globalSafetyCeiling
            if ctx.fusedRisk > ceiling {
                return ProverDecision(token: "DENY_RISK_CEILING_EXCEEDED", explanation: "fused_risk=\(ctx.fusedRisk) > global_safety_ceiling=\(ceiling)")
            }
            return band(ctx, policy)
        }
        let out = engine.check(agentID: ctx.agentID, values: values)
        switch out.verdict {
        case .violation: return ProverDecision(token: "DENY_VIOLATION", explanation: out.explanation, violated: out.violated)
        case .ceilingExceeded: return ProverDecision(token: "DENY_RISK_CEILING_EXCEEDED", explanation: out.explanation)
        case .unknown: return ProverDecision(token: "DENY_PROVER_UNKNOWN", explanation: out.explanation)
        case .holds: return band(ctx, policy)
        }
    }

    func band(_ ctx: DecisionContext, _ policy: Policy) -> ProverDecision {
        let ceiling = policy.globalSafetyCeiling
        if ctx.fusedRisk >= 0.40 * ceiling {
            let redact = ctx.fusedRisk >= 0.6375 * ceiling
            // Under CONSTRAIN the network is limited to the agent's listed destinations (none: no network).
            let dest = policy.agent(ctx.agentID)?.allowedNetworkDestinations ?? []
            return ProverDecision(token: "CONSTRAIN", explanation: "fused_risk=\(ctx.fusedRisk) in the constrain band (≥ \(0.40 * ceiling))",
                                  constraints: Constraints(redactOutput: redact, allowedNetworkDestinations: dest))
        }
        return ProverDecision(token: "ALLOW", explanation: "all invariants hold; fused_risk=\(ctx.fusedRisk) < \(0.40 * ceiling)")
    }
}
