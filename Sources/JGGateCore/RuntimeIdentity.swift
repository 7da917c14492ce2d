import Glibc

/// Which agent a peer is, from the runtime rather than from what it signs: the cgroup it runs in. Every
/// process jg-kernel governs for agent A lives below `<cgroup2>/jinnguard/<instance>/agents/A/`, and a
/// locked agent (`jinnguard agent run`) in `…/agents/A/locked-*`. Only root (and the daemon's component
/// users) may move a process there, and nothing inside may move out, so the path cannot be claimed.
public struct RuntimeIdentity: Sendable, Equatable {
    public var agent: String
    /// In the locked runtime itself (not merely a governed cgroup such as a tool run's).
    public var locked: Bool

    public init(agent: String, locked: Bool) {
        self.agent = agent
        self.locked = locked
    }

    /// The daemon's kernel-plane instance (KernelInstance.name of its state directory), handed to the gate
    /// by the supervisor in the environment.
    public static let instance: String? = getenv("JINNGUARD_KERNEL_INSTANCE").map { String(cString: $0) }

    /// From the text of /proc/PID/cgroup: the unified ("0::") line, read against this daemon's instance.
    public static func parse(_ text: String, instance: String) -> RuntimeIdentity? {
        guard !instance.isEmpty else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("0::") {
            let path = line.dropFirst(3)
            let comps = path.split(separator: "/", omittingEmptySubsequences: false)
            // "", "jinnguard", <instance>, "agents", <agent>, …
            guard let j = comps.firstIndex(of: "jinnguard"), comps.count > j + 3, comps[j + 1] == Substring(instance),
                  comps[j + 2] == "agents", !comps[j + 3].isEmpty else { return nil }
            let locked = comps.count > j + 4 && comps[j + 4].hasPrefix(Substring(LockedRuntime.cgroupPrefix))
            return RuntimeIdentity(agent: String(comps[j + 3]), locked: locked)
        }
        return nil
    }

    /// Reads the peer's cgroup (world-readable); the caller checks the pid's start time around it.
    public static func read(pid: Int32) -> RuntimeIdentity? {
        guard pid > 0, let instance else { return nil }
        let fd = open("/proc/\(pid)/cgroup", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = Glibc.read(fd, &buf, buf.count)
        guard n > 0 else { return nil }
        return parse(String(decoding: buf[0..<n], as: UTF8.self), instance: instance)
    }
}

/// Shared with JGSandbox.LockedAgent (which JGGateCore does not link): the cgroup name prefix.
public enum LockedRuntime {
    public static let cgroupPrefix = "locked-"
}
