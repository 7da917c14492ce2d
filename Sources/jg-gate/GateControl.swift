import Glibc
import JGGateCore
import JGIPC

/// The supervisor's requests about replay state (an operator's counter reset, journal compaction) and
/// the kernel's canary tripwire: thin wiring around LineageStore and GateDecider.
extension GateServer {
    func controlRequest(_ type: ControlRequest, _ r: inout LinkReader, _ fd: OwnedFD?) -> Bool {
        switch type {
        case .resetCounter:
            guard let tag = r.u64(), let agent = r.string(), r.atEnd else { return false }
            var w = LinkWriter(type: ControlReport.counterReset.rawValue)
            w.u64(tag); w.string(agent)
            if decider?.policy.agent(agent) == nil {
                w.bool(false); w.u64(0); w.string("agent \(agent) is not in the policy")
            } else {
                let (ok, previous) = lineage.reset(agent: agent)
                if ok { Log.info("operator reset the sequence counter of \(agent) (was \(previous))") }
                w.bool(ok); w.u64(previous)
                w.string(ok ? "counter reset (was \(previous))" : "journal write failed: errno \(lineage.writeError ?? 0)")
            }
            control.send(w)
            return true
        case .lineageCompact:
            guard let phase = r.u32(), r.atEnd else { return false }
            var w = LinkWriter(type: ControlReport.lineageCompacted.rawValue)
            switch phase {
            case 0:
                guard let fd else { return false }
                let ok = lineage.beginCompaction(into: fd)
                w.bool(ok); w.string(ok ? "snapshot written and synced" : "snapshot not written")
                control.send(w)
            case 1:
                lineage.finishCompaction()
                Log.info("lineage journal compacted to \(lineage.journalBytes) bytes")
            case 2:
                lineage.abortCompaction()
            default:
                return false
            }
            statsDirty = true
            return true
        case .serve:
            guard r.atEnd else { return false }
            startServing()
            return true
        case .statsNow:
            guard let nonce = r.u64(), r.atEnd else { return false }
            publishStatsNow(nonce: nonce)
            return true
        default:
            return false
        }
    }

    /// A governed process of `agent` opened one of the canary decoys: that agent is tripped, and the
    /// broker records it.
    func canaryTripwire(agent: String, pid: UInt32, path: String) {
        guard let decider, decider.policy.agent(agent) != nil else { return }
        let first = decider.trippedAgents[agent] == nil
        if first { decider.trippedAgents[agent] = path }
        Log.warn("canary decoy \(path) opened by pid \(pid) of agent \(agent): its requests are denied")
        sendAgentEvent(agent: agent, kind: "CanaryTripwire", detail: "pid=\(pid) opened \(path)")
    }

    func sendAgentEvent(agent: String, kind: String, detail: String) {
        var w = LinkWriter(type: GateToBroker.agentEvent.rawValue)
        w.string(agent); w.string(kind); w.string(detail)
        if let broker, brokerReady, broker.send(w) { return }
        // Kept until a broker is ready (configured, audit log open): an event is never dropped for want of one.
        if pendingAgentEvents.count < 4096 { pendingAgentEvents.append(w) }
    }
}
