import Glibc
import JGBrokerCore
import JGIPC
import JGJSON
import JGPolicy

/// jg-broker's side of human approval (HoldStore): which decisions wait for an operator, and the
/// operator's approve/reject (ControlRequest.holdDecision, from `jinnguard approve|reject`).
extension BrokerServer {
    /// After the broker's own rules, an ALLOW or CONSTRAIN the agent's `require_approval` covers is held,
    /// unless it is the call of a hold an operator approved (then that hold's stored action is what runs).
    func applyApproval(_ item: inout WorkItem) {
        guard item.token == "ALLOW" || item.token == "CONSTRAIN", let policy,
              let rule = policy.agent(item.context.agentID)?.requireApproval,
              rule.requires(intent: item.context.intent, fusedRisk: item.context.fusedRisk) else { return }
        let ctx = item.context
        if let k = ctx.action?.kind, MCPActionKinds.notes.contains(k) { return }
        if policy.agent(ctx.agentID)?.mode == .shadow {
            // Shadow: the hold it would have made is audited, and the call goes ahead.
            noteShadow(&item, "DENY_HOLD_PENDING_REVIEW", "require_approval covers this call")
            return
        }
        let outcome = holds.propose(agent: ctx.agentID, intent: ctx.intent, action: ctx.action, policyDigest: policy.digest,
                                    holdSeconds: rule.holdSeconds, now: Double(time(nil)))
        switch outcome {
        case let .approved(h):
            item.context.action = h.action
            item.reason = "approved by operator uid \(h.decidedBy.map(String.init) ?? "?") (\(h.id)); " + item.reason
            saveHolds()
            return
        case let .pending(id, isNew):
            item.token = "DENY_HOLD_PENDING_REVIEW"
            item.reason = isNew ? "held for human review (\(id))" : "still waiting for human review (\(id))"
            item.replyDetail = id
            if isNew { saveHolds() }
        case let .rejected(id):
            item.token = "DENY_HOLD_REJECTED"; item.reason = "an operator rejected \(id)"; item.replyDetail = id
            saveHolds()
        case let .expired(id):
            item.token = "DENY_HOLD_EXPIRED"; item.reason = "\(id) expired before it was approved and used"; item.replyDetail = id
            saveHolds()
        case .full:
            item.token = "DENY_RUNTIME_POLICY"; item.reason = "too many holds waiting for review (\(HoldStore.maxHolds))"
        }
        item.stage = "broker"
        item.constraints = nil
    }

    /// An operator's decision; the answer names what happened. Audited as an event record.
    func decideHold(id: String, approve: Bool, uid: UInt32, pid: Int64) -> (Bool, String) {
        let verb = approve ? "approved" : "rejected"
        switch holds.decide(id: id, approve: approve, by: uid, now: Double(time(nil))) {
        case .unknown: return (false, "no hold \(id)")
        case let .alreadyDecided(s): return (false, "\(id) was already \(s.rawValue)")
        case .expired:
            saveHolds()
            return (false, "\(id) has expired")
        case let .done(h):
            saveHolds()
            events.append(AuditRecords.agentEvent(approve ? "HoldApproved" : "HoldRejected", agent: h.agent, source: "jinnguard",
                                                  details: [("hold", .string(h.id)), ("call_digest", .string(h.callDigest)),
                                                            ("intent", h.intent.map { .string($0) } ?? .null),
                                                            ("operator_uid", .integer(.unsigned(UInt64(uid)))),
                                                            ("operator_pid", .integer(.signed(pid)))]))
            return (true, "\(id) \(verb)")
        }
    }

    /// A hold store that cannot be written fails the holds closed: the change is kept in memory (so the
    /// running broker still answers consistently) and the error is logged.
    func saveHolds() {
        guard let holdsPath else { return }
        do { try holds.save(to: holdsPath) } catch { Log.error("holds: \(error)") }
    }

    func loadHolds(stateAccess: String) {
        holdsPath = stateAccess + "/holds.json"
        do { holds = try HoldStore.load(from: holdsPath!) } catch {
            // Unreadable holds are dropped, never guessed at: every held call is held anew.
            Log.error("holds: \(error.description); starting with none")
            holds = HoldStore()
        }
    }
}
