/// A process as the gate can name it without privilege: its pid and its start time (world-readable in
/// /proc/PID/stat). A pid reused by another process has another start time.
public struct PeerKey: Hashable, Sendable {
    public let pid: Int32
    public let startTime: UInt64

    public init(pid: Int32, startTime: UInt64) {
        self.pid = pid
        self.startTime = startTime
    }
}

/// What the supervisor saw of a peer (it can read /proc/PID/exe and ns/pid of any uid); nil fields were
/// not readable there either.
public struct PeerView: Sendable, Equatable {
    public var executable: String?
    public var pidNamespace: String?
    public var inOtherPidNamespace: Bool

    public init(executable: String?, pidNamespace: String?, inOtherPidNamespace: Bool) {
        self.executable = executable
        self.pidNamespace = pidNamespace
        self.inOtherPidNamespace = inOtherPidNamespace
    }

    public static let unreadable = PeerView(executable: nil, pidNamespace: nil, inOtherPidNamespace: false)
}

/// Observations per process, bounded in count and age (an exec changes the executable but not the key).
public struct PeerObservationCache {
    public let capacity: Int
    public let maxAge: Double
    private var entries: [PeerKey: (view: PeerView, at: Double)] = [:]
    /// Keys asked of the supervisor and not yet answered, with when.
    private var asked: [PeerKey: Double] = [:]

    public init(capacity: Int = 4096, maxAge: Double = 30) {
        self.capacity = capacity
        self.maxAge = maxAge
    }

    public func lookup(_ key: PeerKey, now: Double) -> PeerView? {
        guard let e = entries[key], now - e.at <= maxAge else { return nil }
        return e.view
    }

    public var count: Int { entries.count }

    public mutating func store(_ key: PeerKey, _ view: PeerView, now: Double) {
        asked[key] = nil
        if entries.count >= capacity {
            entries = entries.filter { now - $0.value.at <= maxAge }
            // Still full of fresh entries: the oldest half goes.
            if entries.count >= capacity {
                let keep = entries.sorted { $0.value.at > $1.value.at }.prefix(capacity / 2)
                entries = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
            }
        }
        entries[key] = (view, now)
    }

    /// True when the question must be sent (not already under way within `retryAfter` seconds).
    public mutating func shouldAsk(_ key: PeerKey, now: Double, retryAfter: Double) -> Bool {
        if let t = asked[key], now - t < retryAfter { return false }
        if asked.count >= capacity { asked = asked.filter { now - $0.value < retryAfter } }
        asked[key] = now
        return true
    }
}
