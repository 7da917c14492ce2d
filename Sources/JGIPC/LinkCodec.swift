/// Typed fields for internal link messages (OpenSSH sshbuf style): the writer appends, the reader is a
/// cursor that returns nil on short or malformed input without consuming.
public struct LinkWriter {
    public private(set) var bytes: [UInt8]

    public init(type: UInt8) {
        // Most messages (a decision context, a reply) fit: one allocation instead of a few regrowths.
        bytes = []
        bytes.reserveCapacity(512)
        bytes.append(type)
    }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
    public mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    public mutating func f64(_ v: Double) { u64(v.bitPattern) }
    public mutating func data(_ v: some Collection<UInt8>) { u32(UInt32(v.count)); bytes.append(contentsOf: v) }
    public mutating func string(_ v: String) {
        // No intermediate array: a native string's UTF-8 count is known without a pass over it.
        u32(UInt32(v.utf8.count))
        bytes.append(contentsOf: v.utf8)
    }
    public mutating func optString(_ v: String?) {
        bool(v != nil)
        if let v { string(v) }
    }
    public mutating func strings(_ v: [String]) { u32(UInt32(v.count)); v.forEach { string($0) } }
    public mutating func pairs(_ v: [(String, Double)]) { u32(UInt32(v.count)); v.forEach { string($0.0); f64($0.1) } }

    /// The whole frame (header + body) ready to write.
    public var frame: [UInt8] { Frame.encode(bytes) }
}

public struct LinkReader {
    let bytes: [UInt8]
    var pos: Int
    public let type: UInt8

    /// nil when the body is empty (no type byte).
    public init?(body: [UInt8]) {
        guard let t = body.first else { return nil }
        bytes = body
        type = t
        pos = 1
    }

    public var atEnd: Bool { pos == bytes.count }

    public mutating func u8() -> UInt8? {
        guard pos < bytes.count else { return nil }
        defer { pos += 1 }
        return bytes[pos]
    }

    public mutating func bool() -> Bool? {
        guard let b = u8(), b <= 1 else { return nil }
        return b == 1
    }

    public mutating func u32() -> UInt32? {
        guard pos + 4 <= bytes.count else { return nil }
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(bytes[pos + i]) }
        pos += 4
        return v
    }

    public mutating func u64() -> UInt64? {
        guard pos + 8 <= bytes.count else { return nil }
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(bytes[pos + i]) }
        pos += 8
        return v
    }

    public mutating func i64() -> Int64? { u64().map { Int64(bitPattern: $0) } }
    public mutating func f64() -> Double? { u64().map { Double(bitPattern: $0) } }

    public mutating func data() -> [UInt8]? {
        let save = pos
        guard let n = u32(), Int(n) <= bytes.count - pos else { pos = save; return nil }
        defer { pos += Int(n) }
        return Array(bytes[pos..<pos + Int(n)])
    }

    /// A length-prefixed UTF-8 string (nil when short or not valid UTF-8). Decoded straight from the
    /// message bytes; ASCII, the common case on links, skips the (generic, slower) validation.
    public mutating func string() -> String? {
        let save = pos
        guard let n = u32(), Int(n) <= bytes.count - pos else { pos = save; return nil }
        let start = pos
        pos += Int(n)
        return bytes.withUnsafeBufferPointer { p in
            let b = UnsafeBufferPointer(rebasing: p[start..<start + Int(n)])
            return Self.isASCII(b) ? String(decoding: b, as: UTF8.self) : String(validating: b, as: UTF8.self)
        }
    }

    static func isASCII(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = b.baseAddress else { return true }
        var i = 0
        var acc: UInt64 = 0
        while i + 8 <= b.count {
            acc |= UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            i += 8
        }
        while i < b.count { acc |= UInt64(base[i]); i += 1 }
        return acc & 0x8080_8080_8080_8080 == 0
    }

    public mutating func optString() -> String?? {
        guard let present = bool() else { return nil }
        if !present { return .some(nil) }
        guard let s = string() else { return nil }
        return .some(s)
    }

    public mutating func strings(max: Int = 4096) -> [String]? {
        guard let n = u32(), n <= max else { return nil }
        var out: [String] = []
        out.reserveCapacity(Swift.min(Int(n), (bytes.count - pos) / 4))
        for _ in 0..<n { guard let s = string() else { return nil }; out.append(s) }
        return out
    }

    public mutating func pairs(max: Int = 4096) -> [(String, Double)]? {
        guard let n = u32(), n <= max else { return nil }
        var out: [(String, Double)] = []
        out.reserveCapacity(Swift.min(Int(n), (bytes.count - pos) / 12))
        for _ in 0..<n {
            guard let k = string(), let v = f64() else { return nil }
            out.append((k, v))
        }
        return out
    }
}

/// A link message that did not decode: the link is broken and gets closed (never skipped).
public struct LinkProtocolError: Error, Sendable, CustomStringConvertible {
    public var link: String
    public var reason: String
    public init(link: String, reason: String) { self.link = link; self.reason = reason }
    public var description: String { "link \(link): \(reason)" }
}
