/// The proposed-action kinds of the MCP gateway (`jinnguard mcp`, docs/mcp.md). A `tools/call` is
/// decided as `mcp_tool_call`; what became of it (its result, its cancellation) is recorded as the other
/// two. Their fields reuse ProposedAction's, so the gate–prover–broker links carry them unchanged:
/// `url` = `mcp://<server>/<tool>`, `method` = the tool name, `contents` = the arguments' canonical JSON
/// (call) or the result's SHA-256 (result) or the cancellation reason (cancel), and `path` = the call's
/// arguments digest for result and cancel records, so they name the call they belong to.
public enum MCPActionKinds {
    public static let call = "mcp_tool_call"
    public static let result = "mcp_tool_result"
    public static let cancel = "mcp_tool_cancel"
    public static let all: Set<String> = [call, result, cancel]
    /// Records of what became of a call already decided: never held for approval, never counted as a
    /// shadow-mode would-deny (the call itself was).
    public static let notes: Set<String> = [result, cancel]
}
