import JGCrypto
import JGIPC
import JGJSON

/// How a `tools/call` (and what became of it) is put to Jinn Guard: a signed proposal of the agent the
/// gateway speaks for (PROTOCOL.md §3–4), decided only (`execute: false`): the gateway performs the call.
public struct ToolCallProposal: Sendable {
    public var agentID: String
    public var server: String
    public var tool: String
    /// The intent the policy sees: the tool name unless the gateway's intent map renames it.
    public var intent: String
    /// The arguments' canonical JSON (CanonicalJSON), the text the digest, canaries and classifier read.
    public var argumentsText: String
    public var argumentsDigest: String
    /// Top-level numeric arguments, by name: the invariants' `context_vars`.
    public var contextVars: [(String, JSONValue)]

    public init(agentID: String, server: String, tool: String, intent: String, arguments: JSONValue?) {
        self.agentID = agentID
        self.server = server
        self.tool = tool
        self.intent = intent
        let args = arguments ?? .object([])
        argumentsText = CanonicalJSON.text(args)
        argumentsDigest = Digest.sha256Hex(argumentsText)
        var vars: [(String, JSONValue)] = []
        if case let .object(pairs) = args {
            for (k, v) in pairs {
                if case .integer = v { vars.append((k, v)) }
                if case let .number(d) = v, d.isFinite { vars.append((k, v)) }
            }
        }
        contextVars = vars.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
    }

    public enum Record: Sendable, Equatable {
        /// The call itself: the decision.
        case call
        /// What the upstream answered (its SHA-256), recorded once the client has it.
        case result(digest: String, isError: Bool)
        /// The client cancelled the call (passed upstream when it had been forwarded).
        case cancel(reason: String)
    }

    /// The proposal text (the payload string the signature covers).
    public func payload(sequence: UInt64, record: Record = .call) -> String {
        var action: [(String, JSONValue)] = []
        var fields: [(String, JSONValue)] = [
            ("sequence_counter", .integer(.unsigned(sequence))), ("agent_id", .string(agentID)),
            ("intent_name", .string(intent)),
        ]
        let url = "mcp://\(server)/\(tool)"
        switch record {
        case .call:
            fields.append(("plan", .string(argumentsText)))
            if !contextVars.isEmpty { fields.append(("context_vars", .object(contextVars))) }
            action = [("kind", .string(MCPActionKinds.call)), ("url", .string(url)), ("method", .string(tool)),
                      ("contents", .string(argumentsText))]
        case let .result(digest, isError):
            action = [("kind", .string(MCPActionKinds.result)), ("url", .string(url)), ("method", .string(tool)),
                      ("path", .string(argumentsDigest)), ("contents", .string(digest + (isError ? " isError" : "")))]
        case let .cancel(reason):
            action = [("kind", .string(MCPActionKinds.cancel)), ("url", .string(url)), ("method", .string(tool)),
                      ("path", .string(argumentsDigest)), ("contents", .string(reason))]
        }
        fields.append(("proposed_action", .object(action)))
        fields.append(("execute", .bool(false)))
        return JSONWriter.write(.object(fields))
    }

    /// The frame body: `{"payload":…,"signature":…}` with HMAC-SHA256 over the payload's UTF-8 bytes.
    public static func envelope(payload: String, key: [UInt8]) -> [UInt8] {
        let sig = Digest.hex(Digest.hmacSHA256(key: key, message: Array(payload.utf8)))
        return JSONWriter.bytes(.object([("payload", .string(payload)), ("signature", .string(sig))]))
    }
}
