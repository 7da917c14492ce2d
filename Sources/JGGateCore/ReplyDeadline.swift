import JGIPC
import JGPolicy

/// How long the gate waits for the broker's reply to one request. An execution may take as long as the
/// agent's tool limits let it run: a fixed wait shorter than that answers DENY while the tool still runs
/// to the end (and is recorded EXECUTED). The deadline travels in `DecisionContext.replyDeadline`, and the
/// broker starts nothing it could not finish and report before it.
public enum ReplyDeadline {
    /// The prover's share: a decision not handed on within this is answered DENY_PROVER_TIMEOUT.
    public static let proverLimit = 2.0
    /// A decision without an execution: the broker's audit commit.
    public static let decisionLimit = 3.0
    /// libcurl's limit for a `network_request` (the broker's NetworkFetcher uses the same constant).
    public static let networkFetchTimeout = ToolLimits.networkFetchSeconds
    /// Beyond the tool's own limit: the sandbox set-up, the outcome record and the reply.
    public static let executionMargin = 5.0

    /// Seconds from the gate's decision until the reply is due.
    public static func seconds(for ctx: DecisionContext, limits: ToolLimits?) -> Double {
        guard ctx.execute, let action = ctx.action else { return proverLimit + decisionLimit }
        let run: Double
        switch action.kind {
        case "shell_command": run = (limits ?? ToolLimits()).timeoutSeconds
        case "network_request": run = networkFetchTimeout
        default: run = decisionLimit
        }
        return proverLimit + decisionLimit + run + executionMargin
    }
}
