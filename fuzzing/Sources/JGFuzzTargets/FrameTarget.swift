import Glibc
import JGIPC

/// Frame header checks and body reassembly (StreamConnection.nextFrame) over a real socket, with the
/// stream written in chunks whose sizes the first input byte seeds; the frames that come out must be
/// exactly those a straight reading of the stream (PROTOCOL.md §2) gives, and a bad header must break.
enum FrameTarget {
    static let maxBody = 300

    enum End: Equatable { case clean, badHeader }

    static func reference(_ s: [UInt8]) -> ([[UInt8]], End) {
        var frames: [[UInt8]] = []
        var i = 0
        while s.count - i >= 5 {
            guard s[i + 4] == 1 else { return (frames, .badHeader) }
            let len = Int(s[i]) << 24 | Int(s[i + 1]) << 16 | Int(s[i + 2]) << 8 | Int(s[i + 3])
            guard len <= maxBody else { return (frames, .badHeader) }
            guard s.count - i - 5 >= len else { break }
            frames.append(Array(s[(i + 5)..<(i + 5 + len)]))
            i += 5 + len
        }
        return (frames, .clean)
    }

    static func run(_ data: [UInt8]) {
        // Larger inputs would fill the socket buffer while the writer is the reader too.
        guard var seed = data.first, data.count <= 64 * 1024 else { return }
        let stream = Array(data.dropFirst())
        let (expected, expectedEnd) = reference(stream)

        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else { return }
        let writer = OwnedFD(adopting: fds[1])
        let conn: StreamConnection
        do { conn = try StreamConnection(fd: OwnedFD(adopting: fds[0])) } catch { return }

        var got: [[UInt8]] = []
        var end = End.clean
        var off = 0
        func drain() -> Bool {
            while true {
                switch conn.readAvailable(limit: maxBody + Frame.headerSize) {
                case .data:
                    do {
                        while let f = try conn.nextFrame(maxBody: maxBody) { got.append(f) }
                    } catch { end = .badHeader; return false }
                    if conn.bufferedCount == maxBody + Frame.headerSize { violated("full buffer without a frame", data) }
                case .wouldBlock: return true
                case .eof, .failed: violated("socket closed under the reader", data)
                }
            }
        }
        while off < stream.count {
            seed = seed &* 37 &+ 11
            let n = min(stream.count - off, 1 + Int(seed) % 97)
            do { try writer.writeAll(Array(stream[off..<(off + n)])) } catch { return }
            off += n
            if !drain() { break }
        }
        if got != expected || end != expectedEnd {
            violated("reassembly gave \(got.count) frames/\(end), the stream holds \(expected.count)/\(expectedEnd)", data)
        }
    }
}
