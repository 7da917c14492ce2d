/// `require_approval` in an agent's entry: which of its decisions a human must approve, bound to the exact
/// call (docs/mcp.md, "Human approval"). A decision that would ALLOW or CONSTRAIN one of these is answered
/// `DENY_HOLD_PENDING_REVIEW` with a hold id, until an operator approves that hold.
public struct ApprovalRule: Sendable, Equatable {
    /// Intent names (for MCP calls: tool names after the gateway's intent map); empty = none by name.
    public var intents: [String] = []
    /// Any decision whose fused risk is at least this needs approval; nil = none by risk.
    public var riskAtLeast: Double?
    /// How long a hold waits for its decision, and an approved hold for its call.
    public var holdSeconds: Double = ApprovalRule.defaultHoldSeconds
    public static let defaultHoldSeconds = 300.0
    public static let maxHoldSeconds = 86_400.0

    public init() {}

    public func requires(intent: String?, fusedRisk: Double) -> Bool {
        if let i = intent, intents.contains(i) { return true }
        if let r = riskAtLeast, fusedRisk >= r { return true }
        return false
    }
}
