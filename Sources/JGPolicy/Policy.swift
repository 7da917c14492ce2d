/// The policy every component enforces (PROTOCOL.md §6). Built only by `PolicyLoader` (YAML, in
/// JGPolicyYAML: the supervisor and the CLI) and `CanonicalPolicy` (the JSON form the components
/// receive), so a value of this type has passed every load-time check.
public struct Policy: Sendable {
    public var globalSafetyCeiling: Double
    public var denyAnonymousAgents: Bool
    public var canaryResources: [String]
    public var governedPathPrefixes: [String]
    public var runtime: RuntimePolicy
    public var agents: [AgentPolicy]
    /// Where the text came from, for messages.
    public var sourceName: String
    /// The exact YAML text the policy was loaded from (for analysis findings anchored to lines). Empty
    /// in the components: the canonical form they receive does not carry it, and `digest` names it.
    public var sourceText: String
    /// SHA-256 (lowercase hex) of the YAML source text: the `policy_digest` of audit records and status.
    /// Computed once from the YAML and carried verbatim in the canonical form, never recomputed from it.
    public var digest: String
    /// Tool runs (shell commands, network requests) the broker keeps in flight at once, all agents
    /// together (`max_concurrent_tool_runs`); what is over it waits in a bounded queue or is refused.
    public var maxConcurrentToolRuns = Policy.defaultMaxConcurrentToolRuns
    package static let defaultMaxConcurrentToolRuns = 16
    package static let maxConcurrentToolRunsLimit = 1024

    public func agent(_ id: String) -> AgentPolicy? { agentIndex[id].map { agents[$0] } }

    var agentIndex: [String: Int] = [:]

    package init(globalSafetyCeiling: Double, denyAnonymousAgents: Bool, canaryResources: [String],
                 governedPathPrefixes: [String], runtime: RuntimePolicy, agents: [AgentPolicy],
                 sourceName: String, sourceText: String, digest: String) {
        self.globalSafetyCeiling = globalSafetyCeiling
        self.denyAnonymousAgents = denyAnonymousAgents
        self.canaryResources = canaryResources
        self.governedPathPrefixes = governedPathPrefixes
        self.runtime = runtime
        self.agents = agents
        self.sourceName = sourceName
        self.sourceText = sourceText
        self.digest = digest
        for (i, a) in agents.enumerated() { agentIndex[a.id] = i }
    }
}

public struct RuntimePolicy: Sendable, Equatable {
    public var denyRootPeers = false
    public var allowedPeerUIDs: [UInt32] = []
    public var requireBrokeredExecution = false
    public var requireSandboxNamespace = false
    public init() {}
}

public struct AgentPolicy: Sendable, Equatable {
    public var id: String
    public var privilegeTier: Int
    public var allowedPeerUIDs: [UInt32]
    /// Empty = every intent.
    public var allowedIntents: [String]
    /// Empty = any executable.
    public var allowedExecutables: [String]
    /// `host:port` destinations network_request may reach even when they are loopback or private
    /// (and over plain http); CONSTRAIN limits network requests to exactly these.
    public var allowedNetworkDestinations: [String] = []
    /// IPv4/IPv6 addresses or CIDR blocks this agent's governed processes may never connect to
    /// (enforced in the kernel by jg-kernel's cgroup socket programs, whatever the process asked).
    public var deniedDestinations: [String] = []
    /// Directories this agent's governed processes may not open files below, matched by (device, inode).
    public var deniedDirectories: [String] = []
    /// Absolute directories a brokered file_write may write below besides the agent's workspace (relative
    /// paths land in the workspace). Written with the agent's tool identity, no symlinks followed.
    public var writablePaths: [String] = []
    /// Requests of this agent are refused unless they come from its own locked runtime (`jinnguard agent
    /// run`); `runtime_policy.require_sandbox_namespace` asks it of every agent.
    public var requireSandboxNamespace = false
    /// Limits of each brokered tool run.
    public var toolLimits = ToolLimits()
    /// Whether a sandbox layer that cannot be applied fails the run (SandboxMode.swift).
    public var sandboxMode = SandboxMode.required
    /// Decisions a human must approve first (ApprovalRule.swift); nil = none.
    public var requireApproval: ApprovalRule?
    /// enforce (the default) or shadow (AgentMode.swift).
    public var mode = AgentMode.enforce
    /// 0 = unlimited.
    public var maxSequenceQuota: UInt64
    /// Largest rise of fused risk above the agent's running mean before DENY_BEHAVIORAL_DRIFT; nil = off.
    public var maxRiskDrift: Double?
    public var invariants: [InvariantSource]
    /// Line of the agent's entry in the policy file.
    public var line: Int

    /// The fields every entry has; the optional ones start at their defaults.
    package init(id: String, privilegeTier: Int, allowedPeerUIDs: [UInt32], allowedIntents: [String],
                 allowedExecutables: [String], maxSequenceQuota: UInt64, maxRiskDrift: Double?,
                 invariants: [InvariantSource], line: Int) {
        self.id = id
        self.privilegeTier = privilegeTier
        self.allowedPeerUIDs = allowedPeerUIDs
        self.allowedIntents = allowedIntents
        self.allowedExecutables = allowedExecutables
        self.maxSequenceQuota = maxSequenceQuota
        self.maxRiskDrift = maxRiskDrift
        self.invariants = invariants
        self.line = line
    }
}

/// One invariant as written, with where it was written and its parsed form.
public struct InvariantSource: Sendable, Equatable {
    public var text: String
    public var line: Int
    public var column: Int
    public var expression: InvariantExpr

    package init(text: String, line: Int, column: Int, expression: InvariantExpr) {
        self.text = text
        self.line = line
        self.column = column
        self.expression = expression
    }
}

/// A load-time error: the file, the line and the reason.
public struct PolicyError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var reason: String
    public init(file: String, line: Int, column: Int = 0, reason: String) {
        self.file = file
        self.line = line
        self.column = column
        self.reason = reason
    }
    public var description: String {
        column > 0 ? "\(file):\(line):\(column): \(reason)" : "\(file):\(line): \(reason)"
    }
}

/// Limits of one brokered tool run (`tool_limits` in an agent's entry).
public struct ToolLimits: Sendable, Equatable {
    /// What a loaded policy can hold (the YAML loader clamps or refuses anything else).
    package static let maxTimeoutSeconds = 600.0
    package static let minCPUSeconds: UInt64 = 1
    package static let minMemoryMB: UInt64 = 16
    package static let minMaxProcesses: UInt64 = 1
    package static let maxOutputBytes = 64 << 20
    package static let minFileSizeMB: UInt64 = 1
    /// ext4 needs a few MiB for itself; 1 TiB is far beyond any sane workspace.
    package static let minWorkspaceMB: UInt64 = 8
    package static let maxWorkspaceMB: UInt64 = 1 << 20
    package static let maxConcurrentRunsLimit = 1024
    /// Upper bounds (#16): the broker shifts the MiB values by 20 bits and hands every value to setrlimit,
    /// where 2^64−1 is RLIM_INFINITY; a bigger number would wrap into another limit (or none), so it is a
    /// load error instead. A day of CPU, 1 TiB, and the kernel's own pid ceiling (pid_max ≤ 2^22).
    package static let maxCPUSeconds: UInt64 = 86_400
    package static let maxMemoryMB: UInt64 = 1 << 20
    package static let maxMaxProcesses: UInt64 = 1 << 22
    package static let maxFileSizeMB: UInt64 = 1 << 20

    /// libcurl's limit for one `network_request`: the broker's fetch and the gate's reply deadline use it.
    public static let networkFetchSeconds = 10.0

    public var timeoutSeconds = 10.0
    public var cpuSeconds: UInt64 = 10
    public var memoryMB: UInt64 = 512
    public var maxProcesses: UInt64 = 64
    public var outputBytes = 1 << 20
    public var fileSizeMB: UInt64 = 16
    /// Size of the agent's workspace (its own file system, apart from the audit log's).
    public var workspaceMB: UInt64 = 256
    /// This agent's tool runs in flight at once (`max_concurrent_runs`); as many more may wait.
    public var maxConcurrentRuns = 4
    public init() {}
}

extension AgentPolicy {
    /// An `allowed_network_destinations` entry: `host:port`, a non-empty host and a port 1…65535.
    package static func isNetworkDestination(_ d: String) -> Bool {
        guard let c = d.lastIndex(of: ":"), c > d.startIndex, let port = UInt16(d[d.index(after: c)...]) else { return false }
        return port > 0
    }
}

extension AgentPolicy {
    /// An absolute, normalized directory other than `/` (no `.`/`..` components, no `//`, no trailing `/`).
    public static func isWritablePath(_ p: String) -> Bool {
        guard p.hasPrefix("/"), p.count > 1, !p.hasSuffix("/"), !TextSearch.contains(p, "//"), !p.utf8.contains(0) else { return false }
        return !p.split(separator: "/").contains { $0 == "." || $0 == ".." }
    }
}
