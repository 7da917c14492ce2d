/// Reply tokens of PROTOCOL.md §5 (compat names) and ours, always DENY_-prefixed.
public enum Token: String, Sendable, CaseIterable {
    case allow = "ALLOW"
    case constrain = "CONSTRAIN"
    case badVersion = "DENY_BAD_VERSION"
    case payloadTooLarge = "DENY_PAYLOAD_TOO_LARGE"
    case encodingError = "DENY_ENCODING_ERROR"
    case malformedPayload = "DENY_MALFORMED_PAYLOAD"
    case tamperedToken = "DENY_TAMPERED_TOKEN"
    case anonymousAgent = "DENY_ANONYMOUS_AGENT_NOT_PERMITTED"
    case unknownAgent = "DENY_UNKNOWN_AGENT_ID"
    case identityBinding = "DENY_AGENT_IDENTITY_BINDING"
    case replay = "DENY_REPLAY_ATTACK"
    case canary = "DENY_CANARY_TRIPWIRE"
    case intentNotAllowed = "DENY_INTENT_NOT_ALLOWED"
    case delegationInvalid = "DENY_DELEGATION_INVALID"
    case delegationUnsupported = "DENY_DELEGATION_UNSUPPORTED"
    case runtimePolicy = "DENY_RUNTIME_POLICY"
    case quotaExhausted = "DENY_QUOTA_EXHAUSTED"
    case behavioralDrift = "DENY_BEHAVIORAL_DRIFT"
    case violation = "DENY_VIOLATION"
    case riskCeiling = "DENY_RISK_CEILING_EXCEEDED"
    case interpreterNotAllowed = "DENY_INTERPRETER_NOT_ALLOWED"
    // Ours.
    case componentUnavailable = "DENY_COMPONENT_UNAVAILABLE"
    case auditUnavailable = "DENY_AUDIT_UNAVAILABLE"
    case proverUnknown = "DENY_PROVER_UNKNOWN"
    case proverTimeout = "DENY_PROVER_TIMEOUT"

    /// The reply body for a bare token.
    public var replyBody: [UInt8] { Array("SIGNAL: \(rawValue)\n".utf8) }
}

public enum Reply {
    public static func body(token: String) -> [UInt8] { Array("SIGNAL: \(token)\n".utf8) }
}
