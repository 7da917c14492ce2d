/// Whether one component still runs its event loop, as its supervisor sees it: one ping at a time over the
/// control link, answered by a pong with the same nonce. A process can be alive (kill(pid, 0) succeeds,
/// its sockets stay open) and still decide nothing — stopped, or stuck in a call — so health follows the
/// answers, not the pid.
public struct Liveness: Sendable, Equatable {
    /// How often a ping goes out while the last one was answered.
    public static let interval = 0.5
    /// Silence after which the component is reported unhealthy (with the ping interval: within 3.5 s).
    public static let unhealthyAfter = 3.0
    /// Silence after which it is killed and restarted through the normal restart path.
    public static let restartAfter = 20.0

    public enum Verdict: Sendable, Equatable {
        case alive
        /// silent for this many seconds: unhealthy
        case unresponsive(Double)
        /// silent past the restart grace
        case dead(Double)
    }

    public private(set) var nonce: UInt64 = 0
    /// When the unanswered ping went out; nil while none is outstanding.
    public private(set) var outstandingSince: Double?
    private var lastPing: Double

    public init(now: Double) { lastPing = now - Self.interval }

    /// The nonce to send now, or nil when a ping is outstanding or the last one was answered less than
    /// `interval` ago.
    public mutating func nextPing(now: Double) -> UInt64? {
        guard outstandingSince == nil, now - lastPing >= Self.interval else { return nil }
        nonce &+= 1
        outstandingSince = now
        lastPing = now
        return nonce
    }

    /// A pong: true when it answers the outstanding ping (a stale or unknown nonce changes nothing).
    @discardableResult
    public mutating func pong(_ n: UInt64) -> Bool {
        guard outstandingSince != nil, n == nonce else { return false }
        outstandingSince = nil
        return true
    }

    /// The watcher itself did not run for a while (its process was stopped, or the machine slept): the
    /// silence it would measure is its own, so the outstanding ping counts from now.
    public mutating func watcherResumed(now: Double) {
        if outstandingSince != nil { outstandingSince = now }
        lastPing = min(lastPing, now)
    }

    public func verdict(now: Double) -> Verdict {
        guard let since = outstandingSince else { return .alive }
        let silent = now - since
        if silent >= Self.restartAfter { return .dead(silent) }
        if silent >= Self.unhealthyAfter { return .unresponsive(silent) }
        return .alive
    }
}

/// What the supervisor does when a component reports a link lost: re-pair, unless the report is about a
/// link already replaced (a newer one was sent after it), or the same pair keeps breaking (then a restart
/// of the lost peer). Links are counted per receiving component and peer, from the component's start: the
/// component numbers the links it receives the same way, so a report names exactly which link broke.
public struct LinkRepairs: Sendable {
    /// Re-pairs of one pair within `window` before the lost peer is restarted instead.
    public static let maxRepairs = 3
    public static let window = 30.0

    public enum Action: Sendable, Equatable { case ignore, repair, restart(Component) }

    private var sent: [String: UInt64] = [:]
    private var repairs: [String: [Double]] = [:]

    public init() {}

    static func key(_ a: Component, _ b: Component) -> String {
        a.rawValue < b.rawValue ? a.rawValue + "|" + b.rawValue : b.rawValue + "|" + a.rawValue
    }

    /// `c` (re)started: it counts its links from zero again.
    public mutating func started(_ c: Component) {
        for k in sent.keys where k.hasPrefix(c.rawValue + ">") { sent[k] = nil }
    }

    /// A link end for `peer` was sent to `c`; returns its number as `c` counts it.
    @discardableResult
    public mutating func sent(to c: Component, peer: Component) -> UInt64 {
        let k = c.rawValue + ">" + peer.rawValue
        sent[k, default: 0] &+= 1
        return sent[k] ?? 0
    }

    /// `reporter` lost link number `seq` with `peer`; both are running.
    public mutating func lost(reporter: Component, peer: Component, seq: UInt64, now: Double) -> Action {
        guard seq >= sent[reporter.rawValue + ">" + peer.rawValue, default: 0] else { return .ignore }
        let k = Self.key(reporter, peer)
        var recent = (repairs[k] ?? []).filter { now - $0 < Self.window }
        if recent.count >= Self.maxRepairs {
            repairs[k] = []
            return .restart(peer)
        }
        recent.append(now)
        repairs[k] = recent
        return .repair
    }
}
