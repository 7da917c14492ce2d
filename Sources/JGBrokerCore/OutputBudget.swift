import JGIPC

/// Keeps a tool's reply inside the client contract: every reply body is at most `Frame.maxBody` bytes
/// after JSON escaping (PROTOCOL.md §2), whatever the tool printed — a control byte costs six bytes
/// once escaped, so the raw size alone says nothing.
public enum OutputBudget {
    /// Raw bytes captured per stream at most, whatever the policy allows: more could never be replied.
    public static let rawCapturePerStream = Frame.maxBody
    /// Room left in a reply body for everything but the captured output (token line, constraints,
    /// the other result fields).
    public static let reserve = 16 << 10

    /// Escaped size of one byte as JSONWriter writes it.
    @inline(__always)
    static func cost(_ c: UInt8) -> Int {
        switch c {
        case 0x22, 0x5C, 0x0A, 0x0D, 0x09: return 2
        case 0..<0x20, 0x7F: return 6
        default: return 1
        }
    }

    public static func escapedSize(_ s: String) -> Int {
        var n = 0
        for c in s.utf8 { n += cost(c) }
        return n
    }

    /// The longest prefix of `s` whose escaped form is at most `limit` bytes, never cutting a UTF-8
    /// sequence; true when something was cut.
    public static func fit(_ s: String, escapedLimit limit: Int) -> (String, Bool) {
        var used = 0
        var end = 0
        var lastBoundary = 0
        let bytes = Array(s.utf8)
        for (i, c) in bytes.enumerated() {
            if c & 0xC0 != 0x80 { lastBoundary = i }
            used += cost(c)
            if used > limit {
                // Back to the start of the sequence this byte belongs to.
                end = c & 0xC0 == 0x80 ? lastBoundary : i
                return (String(decoding: bytes[..<end], as: UTF8.self), true)
            }
        }
        return (s, false)
    }

    /// Fits two streams into `budget` escaped bytes together: a stream that needs less than half leaves
    /// the rest to the other.
    public static func fit(_ a: String, _ b: String, budget: Int) -> (String, Bool, String, Bool) {
        let budget = max(0, budget)
        let ea = escapedSize(a), eb = escapedSize(b)
        if ea + eb <= budget { return (a, false, b, false) }
        let half = budget / 2
        let la = eb <= half ? budget - eb : (ea <= half ? ea : half)
        let lb = budget - min(ea, la)
        let (fa, ta) = fit(a, escapedLimit: la)
        let (fb, tb) = fit(b, escapedLimit: lb)
        return (fa, ta, fb, tb)
    }

    /// Cuts `s` to at most `limit` UTF-8 bytes, never in the middle of a sequence.
    public static func truncate(_ s: String, bytes limit: Int) -> (String, Bool) {
        guard s.utf8.count > limit else { return (s, false) }
        var bytes = Array(s.utf8.prefix(max(0, limit)))
        if bytes.count < s.utf8.count, let i = bytes.lastIndex(where: { $0 & 0xC0 != 0x80 }) {
            // Drop a sequence the cut left incomplete.
            let lead = bytes[i]
            let need = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2
            if bytes.count - i < need { bytes.removeSubrange(i...) }
        }
        return (String(decoding: bytes, as: UTF8.self), true)
    }
}

/// One output stream of a tool run, captured up to a cap; what comes after is read and dropped, so the
/// tool never blocks on a full pipe, and the cut is reported.
public struct OutputCapture: Sendable {
    public let cap: Int
    public private(set) var bytes: [UInt8] = []
    public private(set) var truncated = false

    public init(cap: Int) { self.cap = max(0, cap) }

    public mutating func take(_ chunk: UnsafeBufferPointer<UInt8>) {
        let room = cap - bytes.count
        if chunk.count > room { truncated = true }
        if room > 0 { bytes.append(contentsOf: chunk.prefix(room)) }
    }
}
