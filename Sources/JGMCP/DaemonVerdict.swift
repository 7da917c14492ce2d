import JGJSON

/// The daemon's answer to a proposal (PROTOCOL.md §5), as the gateway acts on it.
public enum DaemonVerdict: Sendable, Equatable {
    case allow
    case constrain(ResultLimits)
    /// Any DENY_ token, with what followed it (a hold id for DENY_HOLD_PENDING_REVIEW).
    case deny(token: String, detail: String?)

    /// Anything that is not a well-formed ALLOW or CONSTRAIN is a denial (fail closed).
    public static func parse(_ body: some Collection<UInt8>) -> DaemonVerdict {
        guard let text = String(validating: Array(body), as: UTF8.self) else {
            return .deny(token: "DENY_GATEWAY_BAD_REPLY", detail: nil)
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let first = lines.first, first.hasPrefix("SIGNAL: ") else { return .deny(token: "DENY_GATEWAY_BAD_REPLY", detail: nil) }
        let token = String(first.dropFirst(8))
        let second = lines.count > 1 && !lines[1].isEmpty ? lines[1] : nil
        switch token {
        case "ALLOW": return .allow
        case "CONSTRAIN":
            guard let c = second, let v = try? JSONParser.parse(c), let limits = ResultLimits(constraints: v) else {
                return .deny(token: "DENY_GATEWAY_BAD_REPLY", detail: nil)
            }
            return .constrain(limits)
        default:
            guard token.hasPrefix("DENY_") else { return .deny(token: "DENY_GATEWAY_BAD_REPLY", detail: nil) }
            return .deny(token: token, detail: second)
        }
    }
}

/// CONSTRAIN's limits as they apply to a tool result: a byte cap and secret redaction.
public struct ResultLimits: Sendable, Equatable {
    public var outputByteLimit: Int
    public var redact: Bool

    public init(outputByteLimit: Int, redact: Bool) {
        self.outputByteLimit = outputByteLimit
        self.redact = redact
    }

    init?(constraints v: JSONValue) {
        guard case let .integer(i)? = v["output_byte_limit"], let n = i.uint64, n <= UInt64(Int.max) else { return nil }
        guard case let .bool(r)? = v["redact_output"] else { return nil }
        outputByteLimit = Int(n)
        redact = r
    }
}
