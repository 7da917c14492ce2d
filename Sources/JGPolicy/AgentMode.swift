/// `mode` in an agent's entry. In `shadow`, the policy's own verdicts (allowed intents, runtime policy,
/// quota, drift, invariants, the risk ceiling, human approval) are computed and audited as the verdict
/// that would have been given, and the action proceeds on the risk band alone. Never relaxed, in either
/// mode: authentication (signature, identity binding, replay), canary tripwires, the broker's hard rules
/// and interpreter allowlist, the sandbox and the kernel plane.
public enum AgentMode: String, Sendable, Equatable {
    case enforce
    case shadow
}

/// The shadow verdict the gate hands on in the decision's signals (no link field for it): `shadow:TOKEN`.
public enum ShadowSignal {
    public static let prefix = "shadow:"
    public static func make(_ token: String) -> String { prefix + token }
    public static func token(in signals: [String]) -> String? {
        signals.first(where: { $0.hasPrefix(prefix) }).map { String($0.dropFirst(prefix.count)) }
    }
}
