import JGIPC

/// When a run must end so that its result reaches the agent before the gate stops waiting
/// (`DecisionContext.replyDeadline`): the broker starts nothing it could not finish and report in time,
/// so an action the gate reported as refused never runs afterwards.
public enum RunDeadline {
    /// Kept between the kill and the gate's deadline: reaping, the durable outcome record and the reply.
    public static let reportMargin = 1.0
    /// Less time than this left to run is no run at all: refused instead.
    public static let minimumRun = 0.25
    /// What a gate that sets no reply deadline (0) waits: `executionReplyLimit` from the prover's
    /// hand-off, which comes no earlier than `proverDeadline - proverLimit` (the moment it sent the request).
    static let legacyExecutionWait = 20.0
    static let legacyProverShare = 2.0

    /// The gate's reply deadline (CLOCK_MONOTONIC seconds), or the earliest one a gate that does not send
    /// it could have; 0 when neither is known (then nothing may run).
    public static func replyDeadline(_ ctx: DecisionContext) -> Double {
        if ctx.replyDeadline > 0 { return ctx.replyDeadline }
        if ctx.proverDeadline > 0 { return ctx.proverDeadline - legacyProverShare + legacyExecutionWait }
        return 0
    }

    /// Latest moment a waiting run may still start.
    public static func startBy(replyDeadline: Double) -> Double { replyDeadline - reportMargin - minimumRun }

    /// When to kill a run started `now` with the policy's time limit: its own limit or the deadline less
    /// the margin, whichever comes first; nil when too little time is left (refuse it).
    public static func killAt(now: Double, timeout: Double, replyDeadline: Double) -> Double? {
        let latest = replyDeadline - reportMargin
        guard latest - now >= minimumRun else { return nil }
        return min(now + timeout, latest)
    }
}
