import JGIPC

/// jg-kernel is told about run cgroups without the broker waiting for it (BrokerServer.onRunCgroup).
extension BrokerServer {
    /// Well inside RunDeadline.reportMargin: a run's reply waits for this answer.
    static let governAnswerLimit = 0.5

    func governRunCgroup(path: String, agent: String, start: Bool, then: @escaping () -> Void) {
        guard let k = kernel, k.isOpen else { then(); return }
        var w = LinkWriter(type: (start ? BrokerToKernel.govern : BrokerToKernel.release).rawValue)
        w.string(path)
        if start { w.string(agent) }
        guard k.send(w) else { then(); return }
        governSent += 1
        let reply = governSent
        var ran = false
        let once = { if !ran { ran = true; then() } }
        governContinuations.append((reply, once))
        loop.after(Self.governAnswerLimit) { [unowned self] in
            guard !ran else { return }
            Log.warn("jg-kernel did not answer \(start ? "govern" : "release") for \(path) within \(Self.governAnswerLimit) s")
            self.governContinuations.removeAll { $0.reply == reply }
            once()
        }
    }

    func runGovernContinuations() {
        let due = governContinuations.filter { $0.reply <= governedReplies }
        governContinuations.removeAll { $0.reply <= governedReplies }
        for c in due { c.then() }
    }

    func flushGovernContinuations() {
        let all = governContinuations
        governContinuations.removeAll()
        // Asked on a link that is gone: asked again on the new one (governed cgroups stay in the pinned map).
        governResults.removeAll()
        delegatedGovernAsked.removeAll()
        delegatedGovernTries.removeAll()
        governSent = 0
        governedReplies = 0
        for c in all { c.then() }
    }
}
