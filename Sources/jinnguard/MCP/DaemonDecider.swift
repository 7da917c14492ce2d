import Foundation
import Glibc
import JGIPC
import JGMCP

/// The gateway's one connection to the daemon's agent socket. Proposals go one at a time (the daemon
/// wants an agent's sequence counters strictly increasing, so two in flight could reorder into a replay);
/// the connection is kept between decisions (the daemon closes it after a DENY or 5 s idle, and then it
/// is opened again). Anything but a complete reply is a denial: the gateway fails closed.
/// `@unchecked`: the connection and the counter are touched only under `lock` (one proposal at a time).
final class DaemonDecider: @unchecked Sendable {
    static let unreachable = "DENY_GATEWAY_DAEMON_UNREACHABLE"
    let socketPath: String
    let key: [UInt8]
    private let lock = NSLock()
    private var conn: OwnedFD?
    private var lastSequence: UInt64 = 0

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

    func decide(_ p: ToolCallProposal, record: ToolCallProposal.Record = .call) -> DaemonVerdict {
        lock.lock()
        defer { lock.unlock() }
        // One retry on a fresh connection: a kept connection the daemon closed meanwhile fails on first use.
        for attempt in 0..<2 {
            if conn == nil || !stillOpen(conn!) { conn = connectSocket() }
            guard let c = conn else { return .deny(token: Self.unreachable, detail: "no daemon at \(socketPath)") }
            let frame = Frame.encode(ToolCallProposal.envelope(payload: p.payload(sequence: nextSequence(), record: record), key: key))
            if (try? c.writeAll(frame)) != nil, let body = readReply(c) {
                let v = DaemonVerdict.parse(body)
                if case .deny = v { conn = nil }
                return v
            }
            conn = nil
            if attempt == 1 { break }
        }
        return .deny(token: Self.unreachable, detail: "the daemon did not answer")
    }

    /// A kept connection the daemon has closed reads as EOF (or an error) without blocking.
    private func stillOpen(_ c: OwnedFD) -> Bool {
        var p = pollfd(fd: c.raw, events: Int16(POLLIN), revents: 0)
        let n = poll(&p, 1, 0)
        return n == 0
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
