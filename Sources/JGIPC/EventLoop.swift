import Glibc
import CJGSys

/// A single-threaded event loop: every component is one of these, with its links, its clients and its
/// signals (through signalfd) as registered descriptors. No Dispatch, no threads.
///
/// The interface speaks poll(2) (`POLLIN`, `POLLOUT`, and `POLLHUP`/`POLLERR` always reported), the
/// implementation is a level-triggered epoll instance kept in step with the registrations, so the cost of
/// an iteration follows the descriptors that are ready, not the thousands that may be idle. Interest is
/// narrowed lazily: `setEvents` with fewer events costs no system call, and the kernel's interest is only
/// narrowed if an event nobody asked for actually arrives. A gate client goes quiet (events 0) while its
/// request is decided and wants input again once answered, which is then free in the common case.
public final class EventLoop {
    public typealias Handler = (_ revents: Int16) -> Void

    private struct Entry {
        /// What the owner asked for.
        var events: UInt32
        /// What the epoll instance currently reports (a superset of `events`).
        var armed: UInt32
        /// Distinguishes this registration from an earlier one of the same descriptor number, whose
        /// events may still be in the batch being dispatched.
        var generation: UInt32
        var handler: Handler
    }

    /// Always reported, as poll(2) does whatever was asked. (EPOLLIN, EPOLLPRI, EPOLLOUT, EPOLLERR and
    /// EPOLLHUP have the values of their POLL* namesakes, so masks pass through unchanged.)
    private static let alwaysReported = UInt32(POLLERR) | UInt32(POLLHUP)
    private static let batch = 256

    private let epoll: OwnedFD
    private var entries: [Int32: Entry] = [:]
    private var nextGeneration: UInt32 = 0
    private var cookies = [UInt64](repeating: 0, count: EventLoop.batch)
    private var ready = [UInt32](repeating: 0, count: EventLoop.batch)
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

    public init() {
        let fd = jg_sys_epoll_create()
        // Only descriptor exhaustion at start-up gets here; no component can work without its loop.
        if fd < 0 { fatalError("epoll_create1: errno \(errno)") }
        epoll = OwnedFD(adopting: fd)
    }

    private static func mask(_ events: Int16) -> UInt32 { UInt32(UInt16(bitPattern: events)) }

    private static func cookie(_ fd: Int32, _ generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd))
    }

    public func register(_ fd: Int32, events: Int16, handler: @escaping Handler) {
        nextGeneration &+= 1
        let m = Self.mask(events)
        let c = Self.cookie(fd, nextGeneration)
        // A descriptor registered again without unregister keeps its kernel registration: modify it.
        if jg_sys_epoll_add(epoll.raw, fd, m, c) != 0 {
            let addErrno = errno
            if addErrno != EEXIST || jg_sys_epoll_mod(epoll.raw, fd, m, c) != 0 {
                Log.error("event loop: cannot watch descriptor \(fd): errno \(addErrno == EEXIST ? errno : addErrno)")
            }
        }
        entries[fd] = Entry(events: m, armed: m, generation: nextGeneration, handler: handler)
    }

    public func setEvents(_ fd: Int32, _ events: Int16) {
        guard var e = entries[fd] else { return }
        e.events = Self.mask(events)
        if e.events & ~e.armed != 0 {
            // Wider than what the kernel reports: widen now, or the event could be missed.
            e.armed = e.events
            if jg_sys_epoll_mod(epoll.raw, fd, e.armed, Self.cookie(fd, e.generation)) != 0 {
                Log.error("event loop: cannot change descriptor \(fd): errno \(errno)")
            }
        }
        entries[fd] = e
    }

    public func unregister(_ fd: Int32) {
        guard entries.removeValue(forKey: fd) != nil else { return }
        // Fails harmlessly when the descriptor was closed first (the kernel dropped it then).
        _ = jg_sys_epoll_del(epoll.raw, fd)
    }

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
        while !stopRequested {
            var timeout: Int32 = 1000
            if !timers.isEmpty {
                var next = Double.infinity
                for t in timers where t.deadline < next { next = t.deadline }
                timeout = Int32(max(0, min(1000, ((next - Monotonic.now) * 1000).rounded(.up))))
            }
            let n = cookies.withUnsafeMutableBufferPointer { c in
                ready.withUnsafeMutableBufferPointer { r in
                    jg_sys_epoll_wait(epoll.raw, c.baseAddress, r.baseAddress, Int32(Self.batch), timeout)
                }
            }
            if n < 0 && errno != EINTR { break }
            for i in 0..<max(Int(n), 0) {
                let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: cookies[i]))
                // A handler may have unregistered this descriptor (or another) already, or a new
                // registration may have taken over its number.
                guard var e = entries[fd], e.generation == UInt32(truncatingIfNeeded: cookies[i] >> 32) else { continue }
                let got = ready[i]
                if got & e.armed & ~e.events != 0 {
                    // An event that is no longer wanted: narrow the kernel's interest now.
                    e.armed = e.events
                    entries[fd] = e
                    _ = jg_sys_epoll_mod(epoll.raw, fd, e.armed, Self.cookie(fd, e.generation))
                }
                let revents = got & (e.events | Self.alwaysReported)
                guard revents != 0 else { continue }
                e.handler(Int16(truncatingIfNeeded: revents))
                if stopRequested { break }
            }
            fireTimers()
            onIteration?()
            runFlushes()
        }
    }

    private func fireTimers() {
        guard !timers.isEmpty else { return }
        let now = Monotonic.now
        guard timers.contains(where: { $0.deadline <= now }) else { return }
        let due = timers.filter { $0.deadline <= now }
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
