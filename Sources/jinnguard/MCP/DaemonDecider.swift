import Foundation
import Glibc
import JGIPC
import JGMCP

/// The gateway's one connection to the daemon's agent socket, kept open between decisions (the daemon
/// closes it after a DENY or 5 s idle, and then it is opened again). Proposals go one at a time (the daemon
/// wants an agent's sequence counters strictly increasing, so two decisions in flight could reorder into a
/// replay); anything but a complete reply is a denial: the gateway fails closed.
///
/// Records of results and cancellations never wait for their reply: `record` writes the frame on the kept
/// connection and returns, and the daemon's replies (it answers frames of one connection in order, after
/// the record is in the audit log) are read ahead of the next decision's reply — so a record costs the
/// next call no round trip. A record counts as written only once its reply was read. One whose connection
/// failed first is sent again before anything else; while one cannot be written, every call is denied
/// (DENY_GATEWAY_RECORD_UNWRITTEN); at exit one still unwritten is printed on stderr and the exit fails.
/// `@unchecked`: the connection, the counter and both record queues are touched only under `lock`.
final class DaemonDecider: @unchecked Sendable {
    static let unreachable = "DENY_GATEWAY_DAEMON_UNREACHABLE"
    static let unrecorded = "DENY_GATEWAY_RECORD_UNWRITTEN"
    let socketPath: String
    let key: [UInt8]
    private let lock = NSLock()
    private var conn: OwnedFD?
    private var lastSequence: UInt64 = 0

    private struct Note {
        var proposal: ToolCallProposal
        var record: ToolCallProposal.Record
    }
    /// Records written on `conn` whose replies are still to be read, oldest first.
    private var inFlight: [Note] = []
    /// Records on no connection (never sent, or their connection failed before the reply): sent first.
    private var unsent: [Note] = []

    init(socketPath: String, key: [UInt8]) {
        self.socketPath = socketPath
        self.key = key
    }

    /// Time-based counters (nanoseconds since the epoch, as the SDK's are), strictly above the last one:
    /// a restarted gateway, or a second one for the same agent started later, stays above earlier counters.
    private func nextSequence() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let now = UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
        lastSequence = max(now, lastSequence + 1)
        return lastSequence
    }

    private func frame(_ p: ToolCallProposal, _ r: ToolCallProposal.Record) -> [UInt8] {
        Frame.encode(ToolCallProposal.envelope(payload: p.payload(sequence: nextSequence(), record: r), key: key))
    }

    /// Queues a record of what became of a call; `sendQueued` writes it.
    func record(_ p: ToolCallProposal, _ r: ToolCallProposal.Record) {
        lock.lock()
        defer { lock.unlock() }
        unsent.append(Note(proposal: p, record: r))
    }

    /// Writes the queued records without waiting for their replies. The session calls it right after a call
    /// went to the upstream (the daemon records while the upstream works: a record sent as the client gets
    /// its answer would sit in the daemon ahead of the client's next call), or 50 ms after the record.
    func sendQueued() {
        lock.lock()
        defer { lock.unlock() }
        if !unsent.isEmpty { _ = sendUnsent() }
    }

    func decide(_ p: ToolCallProposal) -> DaemonVerdict {
        lock.lock()
        defer { lock.unlock() }
        // Two retries on a fresh connection: a kept connection the daemon closed meanwhile (idle, or after
        // a record's DENY) fails on first use.
        for _ in 0..<3 {
            guard sendUnsent() else {
                return .deny(token: Self.unrecorded, detail: "\(unsent.count) audit record(s) of earlier calls could not be written")
            }
            guard let c = connection() else { return .deny(token: Self.unreachable, detail: "no daemon at \(socketPath)") }
            guard (try? c.writeAll(frame(p, .call))) != nil else { dropConnection(); continue }
            // The replies come in order: the records' first.
            guard collectRecordReplies(c) else { dropConnection(); continue }
            guard let body = readReply(c) else { dropConnection(); continue }
            let v = DaemonVerdict.parse(body)
            if case .deny = v { conn = nil }
            return v
        }
        if !unsent.isEmpty { return .deny(token: Self.unrecorded, detail: "audit records of earlier calls could not be written") }
        return .deny(token: Self.unreachable, detail: "the daemon did not answer")
    }

    /// Before the gateway exits: every record written and answered, trying for up to `seconds`. false: some
    /// could not be written; each is printed on stderr (the client's log keeps it) and the exit fails.
    func drain(seconds: Double = 5) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let end = Date().addingTimeInterval(seconds)
        while true {
            if sendUnsent(), let c = conn, collectRecordReplies(c) { return true }
            if inFlight.isEmpty && unsent.isEmpty { return true }
            dropConnection()
            if Date() > end { break }
            usleep(100_000)
        }
        for n in unsent {
            Log.error("audit record not written (daemon unreachable): \(n.proposal.payload(sequence: 0, record: n.record))")
        }
        return false
    }

    /// Writes every unsent record on the kept connection. false: some remain unsent (no daemon).
    private func sendUnsent() -> Bool {
        var failures = 0
        while let n = unsent.first {
            guard let c = connection() else { return false }
            if (try? c.writeAll(frame(n.proposal, n.record))) != nil {
                inFlight.append(unsent.removeFirst())
                continue
            }
            dropConnection()
            failures += 1
            if failures == 2 { return false }
        }
        return true
    }

    /// Reads the replies of the records in flight on `c`. Any reply means the record is in the audit log
    /// (the daemon records every decision before answering it); a DENY closes the connection after it.
    private func collectRecordReplies(_ c: OwnedFD) -> Bool {
        var closing = false
        while !inFlight.isEmpty {
            guard !closing, let body = readReply(c) else { return false }
            inFlight.removeFirst()
            if case .deny = DaemonVerdict.parse(body) { closing = true }
        }
        if closing { conn = nil }
        return !closing
    }

    /// The connection's records go back to the front of the unsent ones: sent again on the next connection.
    private func dropConnection() {
        conn = nil
        unsent = inFlight + unsent
        inFlight.removeAll()
    }

    /// The kept connection, or a new one. A kept one with nothing in flight that reads as EOF (or an error)
    /// without blocking was closed by the daemon; with records in flight their replies are read first.
    private func connection() -> OwnedFD? {
        if let c = conn, !inFlight.isEmpty, readable(c) {
            if !collectRecordReplies(c) { dropConnection() }
        }
        if let c = conn, inFlight.isEmpty, readable(c) { conn = nil }
        if conn == nil { conn = connectSocket() }
        return conn
    }

    private func readable(_ c: OwnedFD) -> Bool {
        var p = pollfd(fd: c.raw, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) != 0
    }

    private func connectSocket() -> OwnedFD? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        let owned = OwnedFD(adopting: fd)
        // A decision waits for the prover (2 s) and the audit's fdatasync; 30 s means the daemon is gone.
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return rc == 0 ? owned : nil
    }

    private func readExactly(_ c: OwnedFD, _ n: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: n)
        var got = 0
        while got < n {
            let r = out.withUnsafeMutableBytes { read(c.raw, $0.baseAddress! + got, n - got) }
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { return nil }
            got += r
        }
        return out
    }

    private func readReply(_ c: OwnedFD) -> [UInt8]? {
        guard let h = readExactly(c, Frame.headerSize) else { return nil }
        guard case let .body(length) = Frame.checkHeader(h) else { return nil }
        return readExactly(c, length)
    }
}
