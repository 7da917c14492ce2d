import JGBrokerCore
import JGIPC
import JGJSON
import JGPolicy
import JGPolicyYAML
import Testing

@Suite struct ToolRunBoundsTests {
    @Test func slotsBoundPerAgentAndInTotalAndQueueInOrder() {
        var s = RunSlots()
        do { let r = s.admit(id: 1, agent: "a", agentLimit: 1, totalLimit: 2, startBy: 100); #expect(r == .start) }
        do { let r = s.admit(id: 2, agent: "a", agentLimit: 1, totalLimit: 2, startBy: 100); #expect(r == .wait) }
        guard case .refuse(let why) = s.admit(id: 3, agent: "a", agentLimit: 1, totalLimit: 2, startBy: 100) else {
            Issue.record("a third run of an agent limited to one must be refused")
            return
        }
        #expect(why.contains("max_concurrent_runs"))
        do { let r = s.admit(id: 4, agent: "b", agentLimit: 4, totalLimit: 2, startBy: 100); #expect(r == .start) }
        // The total is full: b waits, and the total queue (2) is then full too.
        do { let r = s.admit(id: 5, agent: "b", agentLimit: 4, totalLimit: 2, startBy: 100); #expect(r == .wait) }
        guard case .refuse(let total) = s.admit(id: 6, agent: "c", agentLimit: 4, totalLimit: 2, startBy: 100) else {
            Issue.record("over the total queue must be refused")
            return
        }
        #expect(total.contains("max_concurrent_tool_runs"))
        do { let r = s.next(now: 1, totalLimit: 2); #expect(r.start.isEmpty) }
        s.finished(agent: "a")
        let n = s.next(now: 1, totalLimit: 2)
        #expect(n.start.map(\.id) == [2])
        #expect(n.expired.isEmpty)
        #expect(s.runningTotal == 2)
        // Waiting past its start-by time: refused by the caller, its place freed.
        let late = s.next(now: 101, totalLimit: 2)
        #expect(late.expired.map(\.id) == [5])
        #expect(s.waiting.isEmpty)
    }

    @Test func laterRunsOfAnAgentNeverOvertakeEarlierOnes() {
        var s = RunSlots()
        do { let r = s.admit(id: 1, agent: "a", agentLimit: 2, totalLimit: 1, startBy: 100); #expect(r == .start) }
        do { let r = s.admit(id: 2, agent: "a", agentLimit: 2, totalLimit: 1, startBy: 100); #expect(r == .wait) }
        s.finished(agent: "a")
        // A new run of the same agent queues behind the waiting one even though a place is free.
        do { let r = s.admit(id: 3, agent: "a", agentLimit: 2, totalLimit: 2, startBy: 100); #expect(r == .wait) }
        do { let r = s.next(now: 1, totalLimit: 1); #expect(r.start.map(\.id) == [2]) }
        let first = s.cancel(id: 3), second = s.cancel(id: 3)
        #expect(first && !second)
    }

    @Test func deadlineKillsBeforeTheGateStopsWaiting() {
        var ctx = DecisionContext()
        ctx.replyDeadline = 50
        #expect(RunDeadline.replyDeadline(ctx) == 50)
        // The policy's limit when it ends first, the deadline less the margin otherwise.
        #expect(RunDeadline.killAt(now: 10, timeout: 5, replyDeadline: 50) == 15)
        #expect(RunDeadline.killAt(now: 10, timeout: 60, replyDeadline: 50) == 50 - RunDeadline.reportMargin)
        // No time left to run: refused, never started.
        #expect(RunDeadline.killAt(now: 49.5, timeout: 60, replyDeadline: 50) == nil)
        #expect(RunDeadline.killAt(now: 60, timeout: 60, replyDeadline: 50) == nil)
        // A gate that sends no deadline: the earliest its fixed wait could end; nothing known: nothing runs.
        ctx.replyDeadline = 0
        ctx.proverDeadline = 100
        #expect(RunDeadline.replyDeadline(ctx) == 118)
        ctx.proverDeadline = 0
        #expect(RunDeadline.replyDeadline(ctx) == 0)
    }

    @Test func outputFitsTheFrameAfterEscaping() {
        let ones = String(repeating: "\u{01}", count: 1 << 20)
        #expect(OutputBudget.escapedSize(ones) == 6 << 20)
        let (a, ta, b, tb) = OutputBudget.fit(ones, ones, budget: 4 << 20)
        #expect(ta && tb)
        #expect(OutputBudget.escapedSize(a) + OutputBudget.escapedSize(b) <= 4 << 20)
        var out: [UInt8] = []
        JSONWriter.appendString(a, to: &out)
        #expect(out.count == OutputBudget.escapedSize(a) + 2, "the cost model is JSONWriter's")
        // A short stream leaves its share to the other.
        let (c, tc, d, td) = OutputBudget.fit("hi", String(repeating: "x", count: 100), budget: 50)
        #expect(c == "hi" && !tc && td && d.utf8.count == 48)
        // Multi-byte characters are never cut in half.
        let (e, te) = OutputBudget.fit("ééé", escapedLimit: 5)
        #expect(te && e == "éé")
        let (f, tf) = OutputBudget.truncate("aé", bytes: 2)
        #expect(tf && f == "a")
        #expect(OutputBudget.truncate("abc", bytes: 3) == ("abc", false))
    }

    @Test func captureKeepsTheCapAndReportsTheCut() {
        var c = OutputCapture(cap: 4)
        let bytes: [UInt8] = Array("abcdef".utf8)
        bytes.withUnsafeBufferPointer { c.take($0) }
        #expect(c.bytes == Array("abcd".utf8) && c.truncated)
        var d = OutputCapture(cap: 6)
        bytes.withUnsafeBufferPointer { d.take($0) }
        #expect(!d.truncated)
    }

    @Test func concurrencyFieldsLoadRoundTripAndAreChecked() throws {
        let text = """
        global_safety_ceiling: 90
        max_concurrent_tool_runs: 3
        agent_nodes:
          - id: a
            privilege_tier: 1
            tool_limits: {max_concurrent_runs: 2}
          - id: b
            privilege_tier: 1
        """
        let p = try PolicyLoader.load(text: text, sourceName: "p")
        #expect(p.maxConcurrentToolRuns == 3)
        #expect(p.agent("a")?.toolLimits.maxConcurrentRuns == 2)
        #expect(p.agent("b")?.toolLimits.maxConcurrentRuns == ToolLimits().maxConcurrentRuns)
        let q = try CanonicalPolicy.decode(CanonicalPolicy.encode(p))
        #expect(q.maxConcurrentToolRuns == 3)
        #expect(q.agents == p.agents)
        let d = try PolicyLoader.load(text: "global_safety_ceiling: 90\nagent_nodes: []\n", sourceName: "p")
        #expect(d.maxConcurrentToolRuns == 16)
        #expect(throws: PolicyError.self) {
            try PolicyLoader.load(text: "global_safety_ceiling: 90\nmax_concurrent_tool_runs: 0\nagent_nodes: []\n", sourceName: "p")
        }
        #expect(throws: PolicyError.self) {
            try PolicyLoader.load(text: "global_safety_ceiling: 90\nagent_nodes:\n  - id: a\n    privilege_tier: 1\n    tool_limits: {max_concurrent_runs: 0}\n", sourceName: "p")
        }
    }
}
