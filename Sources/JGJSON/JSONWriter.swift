/// Compact JSON output. Audit records hash the exact bytes written, so the writer is deterministic:
/// no spaces, keys in the order given, numbers in a fixed form.
///
/// The bytes are the primary output: `write(_:into:)` appends UTF-8 straight into a caller's (reusable)
/// buffer, with no intermediate String. The String API wraps it and produces the same bytes.
public enum JSONWriter {
    public static func write(_ v: JSONValue) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        write(v, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The same bytes as `write(_:)`, as UTF-8 in a new array.
    public static func bytes(_ v: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        write(v, into: &out)
        return out
    }

    public static func append(_ v: JSONValue, to out: inout String) {
        out += write(v)
    }

    /// Appends the compact serialisation of `v` to `out`.
    public static func write(_ v: JSONValue, into out: inout [UInt8]) {
        switch v {
        case .null: appendLiteral("null", to: &out)
        case let .bool(b): appendLiteral(b ? "true" : "false", to: &out)
        case let .integer(.signed(i)): appendInteger(i, to: &out)
        case let .integer(.unsigned(u)): appendInteger(u, to: &out)
        case let .number(d): appendNumber(d, to: &out)
        case let .string(s): appendString(s, to: &out)
        case let .array(items):
            out.append(UInt8(ascii: "["))
            var first = true
            for item in items {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                write(item, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case let .object(pairs):
            out.append(UInt8(ascii: "{"))
            var first = true
            for (k, item) in pairs {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                appendString(k, to: &out)
                out.append(UInt8(ascii: ":"))
                write(item, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Integral doubles print without a fraction; NaN and infinities (never valid JSON) print as null.
    public static func formatNumber(_ d: Double) -> String {
        var out: [UInt8] = []
        appendNumber(d, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `formatNumber` as bytes: integral doubles below 1e15 in magnitude as a plain integer (so -0.0 is
    /// "0"), every other finite double in Swift's shortest round-trip form (`"\(d)"`), non-finite as null.
    public static func appendNumber(_ d: Double, to out: inout [UInt8]) {
        guard d.isFinite else { appendLiteral("null", to: &out); return }
        if d == d.rounded(), abs(d) < 1e15 { appendInteger(Int64(d), to: &out); return }
        // Swift's own shortest round-trip formatting (exactly what "\(d)" gave); usually short enough for
        // a small (inline) string, which does not allocate.
        var s = d.description
        s.withUTF8 { out.append(contentsOf: $0) }
    }

    public static func appendInteger(_ v: Int64, to out: inout [UInt8]) {
        if v < 0 {
            out.append(UInt8(ascii: "-"))
            appendInteger(v.magnitude, to: &out)
        } else {
            appendInteger(UInt64(v), to: &out)
        }
    }

    /// Canonical decimal: no sign, no leading zeros.
    public static func appendInteger(_ v: UInt64, to out: inout [UInt8]) {
        if v < 10 { out.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v)); return }
        // 20 digits hold UInt64.max; written backwards into a stack buffer.
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var n = v
        withUnsafeMutableBytes(of: &digits) { p in
            var i = 24
            while n > 0 {
                i -= 1
                p[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: n % 10)
                n /= 10
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[i..<24]))
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// A JSON string literal: `"` and `\` escaped, \n \r \t by name, other C0 controls and DEL as `\u00xx`
    /// (lowercase hex), everything else (including non-ASCII) as its UTF-8.
    public static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        if s.utf8.withContiguousStorageIfAvailable({ appendEscaped($0, to: &out) }) == nil {
            var copy = s
            copy.withUTF8 { appendEscaped($0, to: &out) }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Escapes UTF-8 `bytes` (already valid: every byte of a multi-byte sequence is ≥ 0x80, so only ASCII
    /// bytes can need escaping). Runs that need none are copied in one go; the scan for the next byte to
    /// escape looks at eight bytes per step.
    public static func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        guard let base = bytes.baseAddress else { return }
        let n = bytes.count
        var runStart = 0
        var i = 0
        while i < n {
            // Skip clean 8-byte words: no byte < 0x20, == 0x22 ("), == 0x5C (\) or == 0x7F (DEL).
            while i + 8 <= n, !needsEscape(UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)) { i += 8 }
            // The byte to escape is in the next eight (or in the tail, if any).
            let end = min(i + 8, n)
            while i < end, !needsEscape(base[i]) { i += 1 }
            if i == end { continue }
            let c = base[i]
            if i > runStart { out.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: i - runStart)) }
            switch c {
            case 0x22: appendLiteral("\\\"", to: &out)
            case 0x5C: appendLiteral("\\\\", to: &out)
            case 0x0A: appendLiteral("\\n", to: &out)
            case 0x0D: appendLiteral("\\r", to: &out)
            case 0x09: appendLiteral("\\t", to: &out)
            default:
                appendLiteral("\\u00", to: &out)
                out.append(hexDigits[Int(c >> 4)]); out.append(hexDigits[Int(c & 0xF)])
            }
            i += 1
            runStart = i
        }
        if n > runStart { out.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: n - runStart)) }
    }

    @inline(__always)
    static func needsEscape(_ c: UInt8) -> Bool { c < 0x20 || c == 0x22 || c == 0x5C || c == 0x7F }

    /// Whether any byte of `w` is < 0x20, 0x22, 0x5C or 0x7F (exact: the classic "has zero byte" and
    /// "has byte less than" tests, which never report a word that has none).
    @inline(__always)
    static func needsEscape(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let less20 = (w &- ones &* 0x20) & ~w & highs
        let q = w ^ (ones &* 0x22), bs = w ^ (ones &* 0x5C), del = w ^ (ones &* 0x7F)
        let zeros = ((q &- ones) & ~q | (bs &- ones) & ~bs | (del &- ones) & ~del) & highs
        return (less20 | zeros) != 0
    }

    public static func appendString(_ s: String, to out: inout String) {
        var b: [UInt8] = []
        appendString(s, to: &b)
        out += String(decoding: b, as: UTF8.self)
    }

    public static func quote(_ s: String) -> String {
        var out: [UInt8] = []
        appendString(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @inline(__always)
    static func appendLiteral(_ s: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }
}
