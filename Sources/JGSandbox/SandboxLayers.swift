import CJGSys

/// The layers of a confined process (DESIGN.md §2a), as requested of and reported by the builder.
public struct SandboxLayers: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let userNamespace = SandboxLayers(rawValue: UInt32(JG_TOOL_USERNS))
    public static let mountNamespace = SandboxLayers(rawValue: UInt32(JG_TOOL_MOUNTNS))
    public static let pidNamespace = SandboxLayers(rawValue: UInt32(JG_TOOL_PIDNS))
    public static let netNamespace = SandboxLayers(rawValue: UInt32(JG_TOOL_NETNS))
    public static let ipcNamespace = SandboxLayers(rawValue: UInt32(JG_TOOL_IPCNS))
    public static let view = SandboxLayers(rawValue: UInt32(JG_TOOL_VIEW))
    public static let privateTmp = SandboxLayers(rawValue: UInt32(JG_TOOL_PRIVATE_TMP))
    public static let proc = SandboxLayers(rawValue: UInt32(JG_TOOL_PROC))
    public static let landlockFS = SandboxLayers(rawValue: UInt32(JG_TOOL_LANDLOCK_FS))
    public static let landlockNet = SandboxLayers(rawValue: UInt32(JG_TOOL_LANDLOCK_NET))
    public static let landlockScope = SandboxLayers(rawValue: UInt32(JG_TOOL_LANDLOCK_SCOPE))
    public static let seccomp = SandboxLayers(rawValue: UInt32(JG_TOOL_SECCOMP))
    public static let cgroup = SandboxLayers(rawValue: UInt32(JG_TOOL_CGROUP))
    public static let cgroupNamespace = SandboxLayers(rawValue: UInt32(JG_TOOL_CGROUPNS))
    public static let privateRun = SandboxLayers(rawValue: UInt32(JG_TOOL_PRIVATE_RUN))

    /// Everything a tool run gets.
    public static let all: SandboxLayers = [.userNamespace, .mountNamespace, .pidNamespace, .netNamespace, .ipcNamespace, .view,
                                            .privateTmp, .proc, .landlockFS, .landlockNet, .landlockScope, .seccomp, .cgroup]

    /// Everything a locked agent gets (`jinnguard agent run`): a tool run's layers, its own cgroup namespace
    /// and a private /run (where the Jinn Guard socket and its key show).
    public static let locked: SandboxLayers = all.union([.cgroupNamespace, .privateRun])

    /// Names in the audit record (stable: operators and tests read them).
    static let names: [(SandboxLayers, String)] = [
        (.userNamespace, "userns"), (.mountNamespace, "mountns"), (.pidNamespace, "pidns"), (.netNamespace, "netns"),
        (.ipcNamespace, "ipcns"), (.view, "view"), (.landlockFS, "landlock_fs"), (.landlockNet, "landlock_net"),
        (.landlockScope, "landlock_scope"), (.seccomp, "seccomp"), (.cgroup, "cgroup"), (.privateTmp, "private_tmp"),
        (.proc, "proc"), (.cgroupNamespace, "cgroupns"), (.privateRun, "private_run"),
    ]

    public var names: [String] { Self.names.filter { contains($0.0) }.map(\.1) }
}

/// Whether a layer that cannot be applied fails the start (policy `sandbox_mode`).
public enum SandboxEnforcement: Sendable, Equatable {
    case required
    case bestEffort
}
