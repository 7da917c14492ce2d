/// Admission of tool runs: at most `tool_limits.max_concurrent_runs` of one agent and
/// `max_concurrent_tool_runs` of all agents run at once. What is over waits in a FIFO queue bounded by
/// the same numbers (per agent and in total), and what does not fit there is refused — never dropped.
public struct RunSlots: Sendable {
    public struct Waiting: Sendable, Equatable {
        public var id: UInt64
        public var agent: String
        public var agentLimit: Int
        public var startBy: Double
    }

    public enum Admission: Sendable, Equatable {
        case start
        case wait
        case refuse(String)
    }

    public private(set) var running: [String: Int] = [:]
    public private(set) var runningTotal = 0
    public private(set) var waiting: [Waiting] = []

    public init() {}

    func waitingCount(_ agent: String) -> Int { waiting.reduce(0) { $0 + ($1.agent == agent ? 1 : 0) } }

    /// Decides one run; `.start` and `.wait` take their place at once.
    public mutating func admit(id: UInt64, agent: String, agentLimit: Int, totalLimit: Int, startBy: Double) -> Admission {
        let agentLimit = max(1, agentLimit), totalLimit = max(1, totalLimit)
        let mine = running[agent, default: 0]
        let queuedMine = waitingCount(agent)
        // Runs of an agent that already has some waiting queue behind them: first come, first served.
        if queuedMine == 0 && mine < agentLimit && runningTotal < totalLimit {
            running[agent] = mine + 1
            runningTotal += 1
            return .start
        }
        if queuedMine >= agentLimit {
            return .refuse("tool_limits.max_concurrent_runs (\(agentLimit)) of agent \(agent) are running and as many are waiting")
        }
        if waiting.count >= totalLimit {
            return .refuse("max_concurrent_tool_runs (\(totalLimit)) are running and as many are waiting")
        }
        waiting.append(Waiting(id: id, agent: agent, agentLimit: agentLimit, startBy: startBy))
        return .wait
    }

    /// A run that was started has ended.
    public mutating func finished(agent: String) {
        guard let n = running[agent], n > 0 else { return }
        running[agent] = n == 1 ? nil : n - 1
        runningTotal -= 1
    }

    /// The waiting runs that may start now (their places taken), and those that can no longer start
    /// before their deadline (removed: the caller refuses them).
    public mutating func next(now: Double, totalLimit: Int) -> (start: [Waiting], expired: [Waiting]) {
        var start: [Waiting] = [], expired: [Waiting] = [], keep: [Waiting] = []
        for w in waiting {
            if now > w.startBy { expired.append(w); continue }
            let mine = running[w.agent, default: 0]
            // Order within one agent is kept: a later run never overtakes an earlier one still waiting.
            if runningTotal < max(1, totalLimit), mine < w.agentLimit, !keep.contains(where: { $0.agent == w.agent }) {
                running[w.agent] = mine + 1
                runningTotal += 1
                start.append(w)
            } else {
                keep.append(w)
            }
        }
        waiting = keep
        return (start, expired)
    }

    /// Removes a waiting run (its request is gone); true when it was waiting.
    public mutating func cancel(id: UInt64) -> Bool {
        guard let i = waiting.firstIndex(where: { $0.id == id }) else { return false }
        waiting.remove(at: i)
        return true
    }
}
