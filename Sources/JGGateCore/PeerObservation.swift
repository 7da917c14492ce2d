import Glibc
import JGIPC

/// What the gate can see of a peer from /proc, from its own unprivileged vantage point. What it cannot
/// see raises risk (PROTOCOL.md §5): an agent is not trusted more because it is harder to observe.
public struct PeerObservation: Sendable {
    public var uid: UInt32
    public var executable: String?
    public var pidNamespace: String?
    /// Process start time (clock ticks since boot): with the pid it names a lineage session.
    public var startTime: UInt64
    /// Differs from the gate's own pid namespace (the agent runs sandboxed).
    public var inOtherPidNamespace: Bool

    public init(uid: UInt32, executable: String?, pidNamespace: String?, startTime: UInt64, inOtherPidNamespace: Bool) {
        self.uid = uid
        self.executable = executable
        self.pidNamespace = pidNamespace
        self.startTime = startTime
        self.inOtherPidNamespace = inOtherPidNamespace
    }

    /// Raised by jg-kernel's recent denials of the agent's processes (they tried to bypass the socket).
    public var kernelRisk = 0.0
    public var kernelSignal: String?
    /// The agent whose governed cgroup (or locked runtime) the peer runs in, read when it connected.
    public var runtime: RuntimeIdentity?
    /// The process that connected was gone (or its pid named a newer process) when the gate accepted: the
    /// socket may live on in a locked agent's other processes, so who it is can no longer be established.
    public var runtimeUnknown = false

    public var observedRisk: Double {
        (uid == 0 ? 25 : 0) + (executable == nil ? 20 : 0) + (pidNamespace == nil ? 10 : 0) + kernelRisk
    }

    public var signals: [String] {
        var s: [String] = []
        if uid == 0 { s.append("peer_uid_root") }
        if let e = executable { s.append("exe=\(e)") } else { s.append("exe_unreadable") }
        if pidNamespace == nil { s.append("pidns_unobservable") } else if inOtherPidNamespace { s.append("pidns_other") }
        if let k = kernelSignal { s.append(k) }
        if let r = runtime { s.append((r.locked ? "locked_runtime=" : "governed_cgroup=") + r.agent) }
        return s
    }

    public static let ownPidNamespace: String? = readLink("/proc/self/ns/pid")

    /// The observation from what the supervisor saw (`view`) of the process `key` names.
    public static func from(_ peer: PeerCredentials, startTime: UInt64, view: PeerView) -> PeerObservation {
        PeerObservation(uid: peer.uid, executable: view.executable, pidNamespace: view.pidNamespace, startTime: startTime,
                        inOtherPidNamespace: view.pidNamespace != nil && view.inOtherPidNamespace)
    }

    /// This process's own view (tests, and a gate that runs with the privilege to see).
    public static func observe(_ peer: PeerCredentials) -> PeerObservation {
        let ns = readLink("/proc/\(peer.pid)/ns/pid")
        return PeerObservation(uid: peer.uid, executable: readLink("/proc/\(peer.pid)/exe"), pidNamespace: ns,
                               startTime: startTime(peer.pid) ?? 0,
                               inOtherPidNamespace: ns != nil && ns != ownPidNamespace)
    }

    public static func readLink(_ path: String) -> String? {
        // A stack buffer: no zero-filled page and no copies per connection.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buf -> String? in
            guard let base = buf.baseAddress else { return nil }
            let n = base.withMemoryRebound(to: CChar.self, capacity: buf.count) { readlink(path, $0, buf.count - 1) }
            guard n > 0 else { return nil }
            return String(decoding: UnsafeBufferPointer(rebasing: buf[0..<n]), as: UTF8.self)
        }
    }

    /// Now, in the unit of a process's start time: clock ticks of CLOCK_BOOTTIME. A peer whose pid names a
    /// process started after its connection was accepted is not the peer (its pid was reused).
    public static func bootTicks() -> UInt64 {
        var ts = timespec()
        guard clock_gettime(CLOCK_BOOTTIME, &ts) == 0 else { return UInt64.max }
        let hz = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
        return UInt64(ts.tv_sec) * hz + UInt64(ts.tv_nsec) * hz / 1_000_000_000
    }

    /// Field 22 of /proc/PID/stat (world-readable), parsed after the last ')' of the command name.
    public static func startTime(_ pid: Int32) -> UInt64? {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 1024)
        let n = read(fd, &buf, buf.count)
        guard n > 0, let close = buf[0..<n].lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = buf[(close + 1)..<n].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3 (state); field 22 is fields[19].
        guard fields.count > 19 else { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self))
    }
}
