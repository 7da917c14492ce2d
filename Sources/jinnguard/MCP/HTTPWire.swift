import Glibc
import JGIPC

/// The HTTP/1.1 the gateway needs on loopback, both ways: a request or response head, a body by
/// Content-Length or chunked, and Server-Sent Events. Nothing else (no TLS: loopback only).
struct HTTPHead {
    var startLine: String
    /// Lower-cased names; a repeated header keeps its last value.
    var headers: [String: String]

    subscript(_ name: String) -> String? { headers[name] }
}

/// Buffered reads from a blocking socket.
final class HTTPReader {
    static let maxHead = 64 << 10
    static let maxBody = 64 << 20
    let fd: OwnedFD
    private var buf: [UInt8] = []
    private var pos = 0

    init(fd: OwnedFD) { self.fd = fd }

    private func fill() -> Bool {
        if pos > 0 && pos == buf.count { buf.removeAll(keepingCapacity: true); pos = 0 }
        var tmp = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd.raw, &tmp, tmp.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            buf += tmp[0..<n]
            return true
        }
    }

    func line(max: Int = maxHead) -> String? {
        while true {
            if let i = buf[pos...].firstIndex(of: 0x0A) {
                var l = Array(buf[pos..<i])
                pos = i + 1
                if l.last == 0x0D { l.removeLast() }
                return String(decoding: l, as: UTF8.self)
            }
            if buf.count - pos > max { return nil }
            guard fill() else { return nil }
        }
    }

    func bytes(_ n: Int) -> [UInt8]? {
        while buf.count - pos < n { guard fill() else { return nil } }
        let out = Array(buf[pos..<pos + n])
        pos += n
        return out
    }

    func head() -> HTTPHead? {
        var start: String?
        while start == nil || start!.isEmpty {
            guard let l = line() else { return nil }
            start = l
        }
        var h: [String: String] = [:]
        var total = 0
        while let l = line() {
            if l.isEmpty { return HTTPHead(startLine: start!, headers: h) }
            total += l.utf8.count
            guard total <= Self.maxHead, let c = l.firstIndex(of: ":") else { return nil }
            let name = l[..<c].lowercased()
            let value = l[l.index(after: c)...].trimmingCharacters(in: " \t")
            h[name] = value
        }
        return nil
    }

    /// The body a head announces; nil = malformed or over the limit. `chunkHandler` (responses only)
    /// receives chunks as they arrive instead of collecting them (Server-Sent Events).
    func body(_ head: HTTPHead, chunkHandler: (([UInt8]) -> Bool)? = nil) -> [UInt8]? {
        if head["transfer-encoding"]?.lowercased().contains("chunked") == true {
            var out: [UInt8] = []
            while true {
                guard let sizeLine = line() else { return nil }
                let hex = sizeLine.split(separator: ";").first.map { String($0).trimmingCharacters(in: " \t") } ?? ""
                guard let n = Int(hex, radix: 16), n >= 0, n <= Self.maxBody else { return nil }
                if n == 0 {
                    while let t = line(), !t.isEmpty {}
                    return out
                }
                guard let chunk = bytes(n), line() != nil else { return nil }
                if let h = chunkHandler { if !h(chunk) { return out } } else {
                    out += chunk
                    guard out.count <= Self.maxBody else { return nil }
                }
            }
        }
        if let cl = head["content-length"] {
            guard let n = Int(cl), n >= 0, n <= Self.maxBody else { return nil }
            guard let b = bytes(n) else { return nil }
            if let h = chunkHandler { _ = h(b) }
            return b
        }
        return []
    }

    /// For responses without a length: everything until the peer closes.
    func rest(chunkHandler: ([UInt8]) -> Bool) {
        if pos < buf.count { if !chunkHandler(Array(buf[pos...])) { return } }
        buf.removeAll(); pos = 0
        while fill() {
            let b = buf; buf.removeAll(); pos = 0
            if !chunkHandler(b) { return }
        }
    }
}

/// Server-Sent Events parsing: `data:` lines joined until a blank line make one event.
struct SSEParser {
    private var pending: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false

    mutating func feed(_ bytes: [UInt8], onEvent: ([UInt8]) -> Void) {
        pending += bytes
        while let i = pending.firstIndex(of: 0x0A) {
            var l = Array(pending[..<i])
            pending.removeSubrange(...i)
            if l.last == 0x0D { l.removeLast() }
            if l.isEmpty {
                if hasData { onEvent(data) }
                data.removeAll(); hasData = false
                continue
            }
            if l.starts(with: Array("data:".utf8)) {
                var v = Array(l.dropFirst(5))
                if v.first == 0x20 { v.removeFirst() }
                if hasData { data.append(0x0A) }
                data += v
                hasData = true
            }
        }
    }
}

extension String {
    /// Trims the ASCII bytes of `set` at both ends. Bytes, not Characters: "\r\n" is one Character.
    func trimmingCharacters(in set: String) -> String {
        let s = Set(set.utf8)
        var b = Array(utf8)[...]
        while let f = b.first, s.contains(f) { b = b.dropFirst() }
        while let l = b.last, s.contains(l) { b = b.dropLast() }
        return String(decoding: b, as: UTF8.self)
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String { String(self).trimmingCharacters(in: set) }
}

enum TCP {
    /// A connected TCP socket to an IPv4 literal or `localhost`.
    static func connect(host: String, port: UInt16) -> OwnedFD? {
        let h = host == "localhost" ? "127.0.0.1" : host
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, h, &addr.sin_addr) == 1 else { return nil }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        let owned = OwnedFD(adopting: fd)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return rc == 0 ? owned : nil
    }

    /// A listening socket on a loopback IPv4 address only.
    static func listen(host: String, port: UInt16) -> OwnedFD? {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { return nil }
        guard UInt32(bigEndian: addr.sin_addr.s_addr) >> 24 == 127 else { return nil }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        let owned = OwnedFD(adopting: fd)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0, Glibc.listen(fd, 64) == 0 else { return nil }
        return owned
    }
}
