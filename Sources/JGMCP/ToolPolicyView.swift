import JGPolicy

/// What the gateway knows of the policy before asking the daemon: the tools it lists for the agent. Every
/// call is still decided by the daemon; this only keeps tools the agent may never call out of its view.
public struct ToolPolicyView: Sendable {
    /// The agent's `allowed_intents`; empty = every intent.
    public var allowedIntents: Set<String>
    /// Tool name → intent name (`--intent-map TOOL=INTENT`); a tool not in it is its own intent.
    public var intentMap: [String: String]
    /// The agent's `tool_limits.output_bytes`: under CONSTRAIN a result keeps no more than this or the
    /// constraint's `output_byte_limit`, whichever is smaller (as the broker caps a tool run's output).
    public var outputBytes: Int

    public init(allowedIntents: [String], intentMap: [String: String], outputBytes: Int = Int.max) {
        self.allowedIntents = Set(allowedIntents)
        self.intentMap = intentMap
        self.outputBytes = outputBytes
    }

    public init?(policy: Policy, agent: String, intentMap: [String: String]) {
        guard let a = policy.agent(agent) else { return nil }
        // In shadow mode every tool is listed: the calls the policy would refuse proceed (and are audited so).
        self.init(allowedIntents: a.mode == .shadow ? [] : a.allowedIntents, intentMap: intentMap, outputBytes: a.toolLimits.outputBytes)
    }

    public func limits(_ l: ResultLimits) -> ResultLimits {
        ResultLimits(outputByteLimit: min(l.outputByteLimit, outputBytes), redact: l.redact)
    }

    public func intent(for tool: String) -> String { intentMap[tool] ?? tool }

    public func lists(_ tool: String) -> Bool { allowedIntents.isEmpty || allowedIntents.contains(intent(for: tool)) }
}
