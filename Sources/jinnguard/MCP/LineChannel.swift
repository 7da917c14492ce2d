import Foundation
import Glibc
import JGIPC

/// Newline-delimited JSON-RPC over a pair of descriptors (the MCP stdio transport): one reader thread,
/// writes serialised by a lock so that two messages never interleave.
/// `@unchecked`: the descriptors are immutable once made; writes hold `lock`; only the one reader thread reads.
final class LineChannel: @unchecked Sendable {
    /// Largest message accepted (tool results may carry images); a longer line ends the channel.
    static let maxLine = 64 << 20
    let input: OwnedFD
    let output: OwnedFD
    private let writeLock = NSLock()

    init(input: OwnedFD, output: OwnedFD) {
        self.input = input
        self.output = output
    }

    /// Writes one message and its newline with as few writes as the pipe allows. false = the peer is gone.
    @discardableResult
    func send(_ message: [UInt8]) -> Bool {
        var b = message
        b.append(0x0A)
        writeLock.lock()
        defer { writeLock.unlock() }
        return (try? output.writeAll(b)) != nil
    }

    /// Reads lines until EOF, calling `onLine` for each non-empty one (without its `\n` or `\r`), then `onEnd`.
    func startReading(name: String, onLine: @escaping @Sendable ([UInt8]) -> Void, onEnd: @escaping @Sendable () -> Void) {
        let t = Thread { [input] in
            var pending: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 65536)
            readLoop: while true {
                let n = read(input.raw, &buf, buf.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                var start = 0
                for i in 0..<n where buf[i] == 0x0A {
                    pending += buf[start..<i]
                    start = i + 1
                    if pending.last == 0x0D { pending.removeLast() }
                    if !pending.isEmpty { onLine(pending) }
                    pending.removeAll(keepingCapacity: true)
                }
                pending += buf[start..<n]
                if pending.count > LineChannel.maxLine {
                    Log.error("\(name): message over \(LineChannel.maxLine) bytes; closing")
                    break readLoop
                }
            }
            onEnd()
        }
        t.name = name
        t.start()
    }
}
