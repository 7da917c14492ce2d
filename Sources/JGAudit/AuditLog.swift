import Glibc
import JGJSON

/// The four objects of one entry; index, timestamp and hashes are the log's business.
public struct AuditEntryParts: Sendable {
    public var observation: JSONValue
    public var intent: JSONValue
    public var assessment: JSONValue
    public var decision: JSONValue

    public init(observation: JSONValue, intent: JSONValue, assessment: JSONValue, decision: JSONValue) {
        self.observation = observation
        self.intent = intent
        self.assessment = assessment
        self.decision = decision
    }
}

/// Append-only, hash-chained audit log (PROTOCOL.md §8).
///
/// Thread-safe: the broker may append from several threads; the lock makes chain order equal file order.
/// `@unchecked` because the compiler cannot see that every mutable field is touched only under `lock`.
public final class AuditLog: @unchecked Sendable {
    public let path: String
    private var fd: Int32
    private let lock = PthreadLock()
    private var _nextIndex: UInt64 = 0
    /// The chain head's hash as its 64 hex digits (ASCII), the form it is hashed and written in.
    private var _lastHash = AuditLine.zeroHashBytes
    /// One buffer for the lines of every batch, reused so that a group commit allocates nothing per line.
    private var lineBuffer: [UInt8] = []
    private var hashScratch: [UInt8] = []
    /// Bytes known durable in the file; the point a failed append is cut back to.
    private var durableSize = 0
    private var _failed: AuditError?
    private var _recoveredTornTail: Int?
    private var _tornTailPath: String?

    public init(path: String) throws(AuditError) {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AuditError(operation: "open", errno: errno, detail: "cannot open \(path)") }
        // Two writers on one chain would interleave and fork it; refuse rather than corrupt.
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            _ = Glibc.close(fd)
            throw AuditError(operation: "open", errno: e, detail: "\(path) is locked by another writer")
        }
        do throws(AuditError) {
            try recover()
        } catch {
            _ = Glibc.close(fd)
            fd = -1
            throw error
        }
    }

    deinit {
        if fd >= 0 { _ = Glibc.close(fd) }
    }

    /// Bytes moved aside at open because the tail was torn; nil when the file ended cleanly.
    public var recoveredTornTail: Int? { lock.with { _recoveredTornTail } }
    /// Where those bytes went.
    public var tornTailPath: String? { lock.with { _tornTailPath } }
    public var nextIndex: UInt64 { lock.with { _nextIndex } }
    public var lastHash: String { lock.with { String(decoding: _lastHash, as: UTF8.self) } }
    public var failed: AuditError? { lock.with { _failed } }

    public func close() {
        lock.with {
            if fd >= 0 { _ = Glibc.close(fd) }
            fd = -1
        }
    }

    @discardableResult
    public func appendBoot(extraSignals: [String] = [], observation: JSONValue = .object([])) throws(AuditError) -> UInt64 {
        var signals: [JSONValue] = [.string(AuditLine.bootMarkerSignal), .string(AuditLine.kernelReleasePrefix + Self.kernelRelease())]
        signals += extraSignals.map { .string($0) }
        let (prior, torn) = lock.with { (_nextIndex, _recoveredTornTail) }
        // The assessment records what this start found, so a torn tail is reported inside the chain itself.
        let assessment: JSONValue = .object([
            ("previous_entries", .integer(.unsigned(prior))),
            ("recovered_torn_tail_bytes", torn.map { .integer(.signed(Int64($0))) } ?? .null),
        ])
        let parts = AuditEntryParts(
            observation: observation,
            intent: .object([("class", .string("Boot")), ("signals", .array(signals))]),
            assessment: assessment,
            decision: .object([("verdict", .string("BOOT"))]))
        return try append([parts], timestamp: Self.now())[0]
    }

    @discardableResult
    public func append(_ entries: [AuditEntryParts], timestamp: UInt64) throws(AuditError) -> [UInt64] {
        for (i, e) in entries.enumerated() {
            func check(_ name: String, _ v: JSONValue) throws(AuditError) {
                guard case .object = v else {
                    throw AuditError(operation: "append", errno: EINVAL, detail: "entry \(i): \(name) must be a JSON object")
                }
            }
            try check("observation", e.observation)
            try check("intent", e.intent)
            try check("assessment", e.assessment)
            try check("decision", e.decision)
        }
        if entries.isEmpty { return [] }
        return try lock.with { () throws(AuditError) -> [UInt64] in
            guard fd >= 0 else { throw AuditError(operation: "append", errno: EBADF, detail: "log is closed") }
            // After a failure (a full disk, say) every append tries again: the torn tail of the failed
            // write is cut first and the head checked, so a log whose space came back goes on by itself.
            if _failed != nil {
                do throws(AuditError) { try repairTail() } catch {
                    _failed = error
                    throw error
                }
                _failed = nil
            }
            if _nextIndex == 0 {
                guard case .object = entries[0].intent, AuditLine.bootMarkerProblem(.object([("intent", entries[0].intent)])) == nil else {
                    throw AuditError(operation: "append", errno: EINVAL, detail: "entry 0 of a chain must be a boot marker (use appendBoot)")
                }
            }
            lineBuffer.removeAll(keepingCapacity: true)
            var indexes: [UInt64] = []
            indexes.reserveCapacity(entries.count)
            var index = _nextIndex
            var prev = _lastHash
            for e in entries {
                AuditLine.append(index: index, timestamp: timestamp, prevHash: prev, parts: e, to: &lineBuffer, hash: &hashScratch)
                indexes.append(index)
                swap(&prev, &hashScratch)
                index += 1
            }
            // A huge batch (a burst of telemetry) does not keep its buffer for the rest of the process.
            defer { if lineBuffer.capacity > 4 << 20 { lineBuffer = [] } }
            do throws(AuditError) {
                try FileIO.writeAll(fd, lineBuffer, op: "append")
                if fdatasync(fd) != 0 {
                    throw AuditError(operation: "append", errno: errno, detail: "fdatasync failed")
                }
            } catch {
                // After a failed write or fdatasync the kernel may already have dropped dirty pages, so
                // nothing past durableSize can be trusted: cut it off (best effort; the next append cuts
                // and checks again before writing), so the chain head never moves past what is on disk.
                _ = ftruncate(fd, off_t(durableSize))
                _ = fdatasync(fd)
                _failed = error
                throw error
            }
            durableSize += lineBuffer.count
            _nextIndex = index
            _lastHash = prev
            return indexes
        }
    }

    // MARK: - Recovery

    /// Cuts the file back to what is known durable and checks that its last line is the chain head the
    /// log holds, so a retried append can neither duplicate nor fork a record. A head that does not match
    /// is damage, not a full disk: it stays an error.
    private func repairTail() throws(AuditError) {
        guard ftruncate(fd, off_t(durableSize)) == 0 else {
            throw AuditError(operation: "repair", errno: errno, detail: "cannot cut \(path) back to \(durableSize) bytes")
        }
        guard fdatasync(fd) == 0 else { throw AuditError(operation: "repair", errno: errno, detail: "fdatasync after cut failed") }
        let size = try FileIO.fileSize(fd, op: "repair")
        guard size == durableSize else {
            throw AuditError(operation: "repair", errno: EIO, detail: "\(path) is \(size) bytes after the cut, expected \(durableSize)")
        }
        guard size > 0, _nextIndex > 0 else { return }
        let start = try findNewline(before: size - 1).map { $0 + 1 } ?? 0
        let bytes = try FileIO.readRange(fd, offset: start, count: size - 1 - start, op: "repair")
        guard case let .success(head) = AuditLine.scan(bytes[...]), head.index == _nextIndex - 1,
              Array(head.hash.utf8) == _lastHash else {
            throw AuditError(operation: "repair", errno: EBADMSG, detail: "\(path): the last line is not the chain head; run audit verify")
        }
    }

    /// Finds the chain head from the last good line. Only the tail is read: a crash can tear only the
    /// last write, and a full check of history is `AuditVerifier`'s job, not every start's.
    private func recover() throws(AuditError) {
        let size = try FileIO.fileSize(fd, op: "open")
        durableSize = size
        guard size > 0 else { return }

        var cut = size
        // Bytes after the last newline are a half-written line.
        let lastNL = try findNewline(before: size)
        cut = lastNL.map { $0 + 1 } ?? 0

        var head: AuditLine.Scanned?
        var lineEnd = cut
        // At most two complete lines are examined: the last may be torn (a write that reached the disk
        // only in part can still end in a newline of a following line); a second bad line is corruption,
        // not a crash, and is refused instead of silently cut.
        for attempt in 0..<2 where lineEnd > 0 {
            let start = try findNewline(before: lineEnd - 1).map { $0 + 1 } ?? 0
            let bytes = try FileIO.readRange(fd, offset: start, count: lineEnd - 1 - start, op: "open")
            switch AuditLine.scan(bytes[...]) {
            case let .success(s):
                head = s
            case let .failure(reason):
                if attempt == 1 {
                    throw AuditError(operation: "open", errno: EBADMSG,
                                     detail: "\(path): the last two lines are both invalid (\(reason)); refusing to append to a damaged chain — run audit verify")
                }
                cut = start
                lineEnd = start
                continue
            }
            break
        }

        if cut < size {
            try moveAside(from: cut, to: size)
            _recoveredTornTail = size - cut
            durableSize = cut
        }
        if let h = head {
            guard h.index < UInt64.max else { throw AuditError(operation: "open", errno: EOVERFLOW, detail: "index space exhausted") }
            _nextIndex = h.index + 1
            _lastHash = Array(h.hash.utf8)
        }
    }

    /// Offset of the last '\n' strictly before `end`, reading backwards in chunks.
    private func findNewline(before end: Int) throws(AuditError) -> Int? {
        var hi = end
        let chunk = 1 << 16
        while hi > 0 {
            let lo = max(0, hi - chunk)
            let bytes = try FileIO.readRange(fd, offset: lo, count: hi - lo, op: "open")
            if let i = bytes.lastIndex(of: UInt8(ascii: "\n")) { return lo + i }
            hi = lo
        }
        return nil
    }

    private func moveAside(from start: Int, to end: Int) throws(AuditError) {
        let bytes = try FileIO.readRange(fd, offset: start, count: end - start, op: "recover")
        let base = "\(path).torn-\(Self.now())"
        var name = base
        var tfd: Int32 = -1
        // O_EXCL: two crashes within one second must not overwrite the earlier evidence.
        for n in 0..<1000 {
            name = n == 0 ? base : "\(base)-\(n)"
            tfd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if tfd >= 0 || errno != EEXIST { break }
        }
        guard tfd >= 0 else { throw AuditError(operation: "recover", errno: errno, detail: "cannot create \(name)") }
        defer { _ = Glibc.close(tfd) }
        try FileIO.writeAll(tfd, bytes, op: "recover")
        // The evidence must be durable before the original bytes are cut, or a second crash loses both.
        guard fdatasync(tfd) == 0 else { throw AuditError(operation: "recover", errno: errno, detail: "fdatasync \(name) failed") }
        FileIO.syncDirectory(of: name)
        guard ftruncate(fd, off_t(start)) == 0 else {
            throw AuditError(operation: "recover", errno: errno, detail: "cannot cut \(path) back to \(start) bytes")
        }
        guard fdatasync(fd) == 0 else { throw AuditError(operation: "recover", errno: errno, detail: "fdatasync after cut failed") }
        _tornTailPath = name
    }

    // MARK: - Helpers

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(max(0, ts.tv_sec))
    }

    static func kernelRelease() -> String {
        var u = utsname()
        guard uname(&u) == 0 else { return "unknown" }
        let r = withUnsafeBytes(of: &u.release) { p in
            String(decoding: p.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return r.isEmpty ? "unknown" : r
    }
}

/// pthread mutex rather than Synchronization.Mutex, which the package's macOS 13 floor does not offer.
/// `@unchecked`: the mutex itself is the synchronisation; its storage is allocated once and never moved.
final class PthreadLock: @unchecked Sendable {
    private let m: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        m = .allocate(capacity: 1)
        pthread_mutex_init(m, nil)
    }

    deinit {
        pthread_mutex_destroy(m)
        m.deallocate()
    }

    func with<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        return try body()
    }
}
