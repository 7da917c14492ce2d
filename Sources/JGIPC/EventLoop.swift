import Glibc
import CJGSys

/// A single-threaded poll(2) loop: every component is one of these, with its links, its clients and
/// its signals (through signalfd) as registered descriptors. No Dispatch, no threads.
public final class EventLoop {
    public typealias Handler = (_ revents: Int16) -> Void

    private struct Entry {
        var events: Int16
        var handler: Handler
    }

    private var entries: [Int32: Entry] = [:]
    private var timers: [(deadline: Double, id: Int, action: () -> Void)] = []
    private var nextTimerID = 0
    public var stopRequested = false
    /// Called once per loop iteration, after handlers ran.
    public var onIteration: (() -> Void)?
    /// Link output queued during this iteration, written once at its end: under load many frames share
    /// one write instead of one write each.
    private var flushes: [ObjectIdentifier: () -> Void] = [:]

    public func flushAtEndOfIteration(_ owner: AnyObject, _ flush: @escaping () -> Void) {
        flushes[ObjectIdentifier(owner)] = flush
    }

    private func runFlushes() {
        while !flushes.isEmpty {
            let f = flushes
            flushes.removeAll(keepingCapacity: true)
            for (_, fn) in f { fn() }
        }
    }

    public init() {}

    public func register(_ fd: Int32, events: Int16, handler: @escaping Handler) {
        entries[fd] = Entry(events: events, handler: handler)
    }

    public func setEvents(_ fd: Int32, _ events: Int16) {
        entries[fd]?.events = events
    }

    public func unregister(_ fd: Int32) { entries[fd] = nil }

    public var registeredCount: Int { entries.count }

    /// Runs `action` once, `seconds` from now.
    @discardableResult
    public func after(_ seconds: Double, _ action: @escaping () -> Void) -> Int {
        nextTimerID += 1
        timers.append((Monotonic.now + seconds, nextTimerID, action))
        return nextTimerID
    }

    public func cancelTimer(_ id: Int) { timers.removeAll { $0.id == id } }

    public func run() {
        var pfds: [pollfd] = []
        while !stopRequested {
            pfds.removeAll(keepingCapacity: true)
            for (fd, e) in entries { pfds.append(pollfd(fd: fd, events: e.events, revents: 0)) }
            let now = Monotonic.now
            var timeout: Int32 = 1000
            if let next = timers.map(\.deadline).min() {
                timeout = Int32(max(0, min(1000, ((next - now) * 1000).rounded(.up))))
            }
            let n = poll(&pfds, nfds_t(pfds.count), timeout)
            if n < 0 && errno != EINTR { break }
            if n > 0 {
                for p in pfds where p.revents != 0 {
                    // A handler may have unregistered this descriptor (or another) already.
                    guard let e = entries[p.fd] else { continue }
                    e.handler(p.revents)
                    if stopRequested { break }
                }
            }
            fireTimers()
            onIteration?()
            runFlushes()
        }
    }

    private func fireTimers() {
        guard !timers.isEmpty else { return }
        let now = Monotonic.now
        let due = timers.filter { $0.deadline <= now }
        guard !due.isEmpty else { return }
        timers.removeAll { $0.deadline <= now }
        for t in due.sorted(by: { $0.deadline < $1.deadline }) { t.action() }
    }
}

public enum Monotonic {
    public static var now: Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// Signals delivered as readable events through signalfd, so that handlers run in the loop and not in
/// async-signal context.
public final class SignalSource {
    public let fd: OwnedFD

    public init(signals: [Int32]) throws(SystemError) {
        let f = jg_sys_signalfd(signals, Int32(signals.count))
        guard f >= 0 else { throw SystemError("signalfd") }
        fd = OwnedFD(adopting: f)
    }

    /// Pending signal numbers.
    public func drain() -> [Int32] {
        var out: [Int32] = []
        while true {
            let s = jg_sys_signalfd_read(fd.raw)
            if s <= 0 { return out }
            out.append(s)
        }
    }

    /// Children must not inherit the blocked mask.
    public static func unblockAll() { _ = jg_sys_unblock_all_signals() }
}
