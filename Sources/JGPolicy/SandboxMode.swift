/// Policy `sandbox_mode` of an agent: whether a sandbox layer that cannot be applied fails the run
/// (`required`, the default: DENY_SANDBOX_UNAVAILABLE with the reason) or is skipped and reported
/// (`best_effort`: the run goes ahead, the audit record lists the missing layers, health says degraded).
public enum SandboxMode: String, Sendable, Equatable, CaseIterable {
    case required
    case bestEffort = "best_effort"
}
