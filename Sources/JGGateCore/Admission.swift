import Glibc

/// Which agent connections the gate keeps: at most `perUID` per peer uid and `total` in all, so that one
/// uid's flood never takes the slots another uid needs. A uid at its own cap loses its oldest idle
/// connection to its new one (or the new one is refused); when the gate is full, the uid holding the most
/// connections loses its oldest idle one to a uid holding fewer. A connection with a request being decided
/// (or a reply being written) is never evicted: only idle and half-sent ones are.
public struct Admission {
    public struct Limits: Sendable, Equatable {
        public var perUID: Int
        public var total: Int

        public static let defaultPerUID = 1024
        public static let defaultTotal = 16384

        public init(perUID: Int = Limits.defaultPerUID, total: Int = Limits.defaultTotal) {
            self.total = max(1, total)
            self.perUID = max(1, min(perUID, self.total))
        }

        /// `JINNGUARD_MAX_CONNECTIONS_PER_UID` and `JINNGUARD_MAX_CONNECTIONS`; a value that is not a
        /// positive integer leaves the default.
        public static func from(environment get: (String) -> String?) -> Limits {
            func value(_ name: String, _ d: Int) -> Int {
                guard let s = get(name), let n = Int(s), n > 0 else { return d }
                return n
            }
            return Limits(perUID: value("JINNGUARD_MAX_CONNECTIONS_PER_UID", defaultPerUID),
                          total: value("JINNGUARD_MAX_CONNECTIONS", defaultTotal))
        }

        /// Descriptors the gate needs beyond its connections: links, listener, lineage file, logs.
        public var descriptorsNeeded: Int { total + 256 }
    }

    public enum Decision: Sendable, Equatable {
        case admit
        /// admit, after closing this connection
        case admitEvicting(Int32)
        case refuse
    }

    public let limits: Limits
    private struct Entry { var uid: UInt32; var order: UInt64 }
    private var entries: [Int32: Entry] = [:]
    /// Per uid, its connections in admission order (entries no longer current are skipped and dropped).
    private var queues: [UInt32: Queue] = [:]
    private var nextOrder: UInt64 = 0

    private struct Queue {
        var items: [(fd: Int32, order: UInt64)] = []
        var head = 0
        var live = 0
    }

    public init(limits: Limits) { self.limits = limits }

    public var count: Int { entries.count }
    public func count(uid: UInt32) -> Int { queues[uid]?.live ?? 0 }

    /// A new connection `fd` from `uid`. `isIdle` tells whether an existing connection may be evicted.
    public mutating func admit(fd: Int32, uid: UInt32, isIdle: (Int32) -> Bool) -> Decision {
        release(fd: fd)  // a number reused before its close was seen
        let mine = count(uid: uid)
        var victim: Int32?
        if mine >= limits.perUID {
            guard let v = oldestIdle(uid, isIdle) else { return .refuse }
            victim = v
        } else if entries.count >= limits.total {
            // The uids holding the most connections give way first, and only to a uid holding fewer.
            let bigger = queues.filter { $0.key != uid && $0.value.live > mine + 1 }.sorted { $0.value.live > $1.value.live }
            for (u, _) in bigger {
                if let v = oldestIdle(u, isIdle) { victim = v; break }
            }
            if victim == nil {
                guard let v = oldestIdle(uid, isIdle) else { return .refuse }
                victim = v
            }
        }
        if let victim { release(fd: victim) }
        nextOrder &+= 1
        entries[fd] = Entry(uid: uid, order: nextOrder)
        queues[uid, default: Queue()].items.append((fd, nextOrder))
        queues[uid]?.live += 1
        return victim.map { .admitEvicting($0) } ?? .admit
    }

    /// The connection closed (or was evicted); unknown descriptors are ignored.
    public mutating func release(fd: Int32) {
        guard let e = entries.removeValue(forKey: fd), var q = queues[e.uid] else { return }
        q.live -= 1
        if q.live == 0 {
            queues[e.uid] = nil
            return
        }
        // Drop what is no longer current at the front, and compact once half the array is dead.
        while q.head < q.items.count, !isCurrent(q.items[q.head]) { q.head += 1 }
        if q.head > 64 && q.head * 2 > q.items.count {
            q.items.removeFirst(q.head)
            q.head = 0
        } else if q.items.count > 64 && q.live * 4 < q.items.count {
            q.items = q.items[q.head...].filter { isCurrent($0) }
            q.head = 0
        }
        queues[e.uid] = q
    }

    private func isCurrent(_ item: (fd: Int32, order: UInt64)) -> Bool {
        entries[item.fd]?.order == item.order
    }

    private func oldestIdle(_ uid: UInt32, _ isIdle: (Int32) -> Bool) -> Int32? {
        guard let q = queues[uid] else { return nil }
        var i = q.head
        while i < q.items.count {
            let item = q.items[i]
            if isCurrent(item) && isIdle(item.fd) { return item.fd }
            i += 1
        }
        return nil
    }

    /// Raises this process's RLIMIT_NOFILE so that `limits.total` connections fit (the hard limit too,
    /// while the process still may). Returns the soft limit in force afterwards.
    @discardableResult
    public static func raiseDescriptorLimit(for limits: Limits) -> Int {
        let need = rlim_t(limits.descriptorsNeeded)
        var r = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &r) == 0 else { return 0 }
        if r.rlim_cur >= need { return Int(r.rlim_cur) }
        var want = r
        want.rlim_cur = need
        if want.rlim_max < need { want.rlim_max = need }
        if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &want) != 0 {
            // Not allowed past the hard limit: take what it gives.
            want.rlim_max = r.rlim_max
            want.rlim_cur = r.rlim_max
            _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &want)
        }
        _ = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &r)
        return Int(r.rlim_cur)
    }
}
