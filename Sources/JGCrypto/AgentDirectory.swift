import JGIPC

extension AgentDirectory {
    /// The agent id when it is a safe file name, else `agent-` and 16 hex digits of its SHA-256.
    public static func name(_ id: String) -> String {
        isPlainName(id) ? id : "agent-" + String(Digest.sha256Hex(id).prefix(16))
    }
}
