import JGCrypto
import JGJSON

/// The PROTOCOL.md §8 line format, shared by the writer, the open-time recovery and the verifier so that
/// all three agree byte for byte on what a valid line is.
enum AuditLine {
    static let zeroHash = String(repeating: "0", count: 64)
    static let bootMarkerSignal = "jinnguard.boot_marker"
    static let kernelReleasePrefix = "kernel_release="

    static let zeroHashBytes = [UInt8](repeating: UInt8(ascii: "0"), count: 64)

    static func hash(index: UInt64, timestamp: UInt64, prevHash: some Collection<UInt8>,
                     objects: [ArraySlice<UInt8>]) -> String {
        var h = SHA256Stream()
        h.update(bigEndian: index)
        h.update(bigEndian: timestamp)
        h.update(prevHash)
        for o in objects { h.update(o) }
        return Digest.hex(h.finalize())
    }

    /// Appends one line (newline included) to `out`, and puts its hash (64 lowercase hex digits) in `hash`.
    /// Each object is serialised once, straight into `out`; the hash is taken over those very bytes (the
    /// slices of `out`), so what is stored is what is hashed, and no intermediate String or copy is made.
    /// `prevHash` is the previous entry's hash as its 64 hex digits.
    static func append(index: UInt64, timestamp: UInt64, prevHash: [UInt8], parts: AuditEntryParts,
                       to out: inout [UInt8], hash: inout [UInt8]) {
        literal("{\"index\":", &out)
        JSONWriter.appendInteger(index, to: &out)
        literal(",\"timestamp_secs\":", &out)
        JSONWriter.appendInteger(timestamp, to: &out)
        literal(",\"prev_hash\":\"", &out)
        out.append(contentsOf: prevHash)
        literal("\",\"observation\":", &out)
        let o0 = out.count
        JSONWriter.write(parts.observation, into: &out)
        let o1 = out.count
        literal(",\"intent\":", &out)
        let i0 = out.count
        JSONWriter.write(parts.intent, into: &out)
        let i1 = out.count
        literal(",\"assessment\":", &out)
        let a0 = out.count
        JSONWriter.write(parts.assessment, into: &out)
        let a1 = out.count
        literal(",\"decision\":", &out)
        let d0 = out.count
        JSONWriter.write(parts.decision, into: &out)
        let d1 = out.count

        var h = SHA256Stream()
        h.update(bigEndian: index)
        h.update(bigEndian: timestamp)
        h.update(prevHash)
        h.update(out[o0..<o1])
        h.update(out[i0..<i1])
        h.update(out[a0..<a1])
        h.update(out[d0..<d1])
        hash.removeAll(keepingCapacity: true)
        h.finalizeHex(into: &hash)

        literal(",\"hash\":\"", &out)
        out.append(contentsOf: hash)
        literal("\"}\n", &out)
    }

    @inline(__always)
    private static func literal(_ s: StaticString, _ out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    struct Scanned {
        var index: UInt64
        var timestamp: UInt64
        var prevHash: String
        var hash: String
        var value: JSONValue
    }

    /// Checks one line (without its newline) in isolation: exact compact layout, strict JSON, and a hash
    /// that matches the bytes. Linkage to neighbours is the caller's job.
    static func scan(_ line: ArraySlice<UInt8>) -> Result<Scanned, ScanError> {
        var s = Scanner(bytes: line)
        do throws(ScanError) {
            try s.literal("{\"index\":")
            let index = try s.uint64()
            try s.literal(",\"timestamp_secs\":")
            let ts = try s.uint64()
            try s.literal(",\"prev_hash\":\"")
            let prev = try s.hex64()
            try s.literal("\",\"observation\":")
            let obs = try s.object()
            try s.literal(",\"intent\":")
            let intent = try s.object()
            try s.literal(",\"assessment\":")
            let assessment = try s.object()
            try s.literal(",\"decision\":")
            let decision = try s.object()
            try s.literal(",\"hash\":\"")
            let stored = try s.hex64()
            try s.literal("\"}")
            guard s.pos == line.endIndex else { throw ScanError("trailing bytes after the entry") }

            // Brace matching alone would accept invalid JSON inside the objects; the strict parse closes that
            // gap (duplicate keys, bad escapes, control characters).
            let value: JSONValue
            do { value = try JSONParser.parse(line) } catch { return .failure(ScanError("not strict JSON: \(error)")) }

            let prevStr = String(decoding: prev, as: UTF8.self)
            let storedStr = String(decoding: stored, as: UTF8.self)
            let computed = hash(index: index, timestamp: ts, prevHash: prev, objects: [obs, intent, assessment, decision])
            guard computed == storedStr else { return .failure(ScanError("hash mismatch at index \(index)")) }
            return .success(Scanned(index: index, timestamp: ts, prevHash: prevStr, hash: storedStr, value: value))
        } catch {
            return .failure(error)
        }
    }

    /// nil when the entry is a boot marker, otherwise why not.
    static func bootMarkerProblem(_ v: JSONValue) -> String? {
        guard let intent = v["intent"], intent["class"]?.stringValue == "Boot" else { return "intent.class is not \"Boot\"" }
        guard case let .array(signals)? = intent["signals"] else { return "intent.signals is not an array" }
        let strings = signals.compactMap(\.stringValue)
        guard strings.contains(bootMarkerSignal) else { return "intent.signals lacks \(bootMarkerSignal)" }
        guard strings.contains(where: { $0.hasPrefix(kernelReleasePrefix) && $0.count > kernelReleasePrefix.count }) else {
            return "intent.signals lacks kernel_release=…"
        }
        return nil
    }
}

struct ScanError: Error, CustomStringConvertible {
    var description: String { reason }
    var reason: String
    init(_ r: String) { reason = r }
}

private struct Scanner {
    let bytes: ArraySlice<UInt8>
    var pos: Int

    init(bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        pos = bytes.startIndex
    }

    mutating func literal(_ s: StaticString) throws(ScanError) {
        let n = s.utf8CodeUnitCount
        let p = s.utf8Start
        guard pos + n <= bytes.endIndex else { throw ScanError("line ends early, expected \(s)") }
        for i in 0..<n where bytes[pos + i] != p[i] { throw ScanError("expected \(s) at byte \(pos - bytes.startIndex)") }
        pos += n
    }

    /// Canonical decimal only (no sign, no leading zeros), so one number has one spelling in the log.
    mutating func uint64() throws(ScanError) -> UInt64 {
        let start = pos
        var v: UInt64 = 0
        while pos < bytes.endIndex, bytes[pos] >= 0x30, bytes[pos] <= 0x39 {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(bytes[pos] - 0x30))
            guard !o1, !o2 else { throw ScanError("integer out of range at byte \(start - bytes.startIndex)") }
            v = a
            pos += 1
        }
        guard pos > start else { throw ScanError("expected an unsigned integer at byte \(start - bytes.startIndex)") }
        guard !(bytes[start] == 0x30 && pos - start > 1) else { throw ScanError("leading zero at byte \(start - bytes.startIndex)") }
        return v
    }

    mutating func hex64() throws(ScanError) -> ArraySlice<UInt8> {
        guard pos + 64 <= bytes.endIndex else { throw ScanError("hash truncated") }
        let r = bytes[pos..<pos + 64]
        for c in r where !((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)) {
            throw ScanError("hash is not 64 lowercase hex digits")
        }
        pos += 64
        return r
    }

    /// Brace matching that skips string contents (with escapes), the way independent verifiers cut the
    /// objects out of a line.
    mutating func object() throws(ScanError) -> ArraySlice<UInt8> {
        let start = pos
        guard pos < bytes.endIndex, bytes[pos] == UInt8(ascii: "{") else {
            throw ScanError("expected an object at byte \(pos - bytes.startIndex)")
        }
        var depth = 0
        var inString = false
        while pos < bytes.endIndex {
            let c = bytes[pos]
            pos += 1
            if inString {
                if c == UInt8(ascii: "\\") { pos += 1 } else if c == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch c {
            case UInt8(ascii: "\""): inString = true
            // The format is compact JSON; whitespace would let one entry have many byte spellings.
            case 0x20, 0x09, 0x0A, 0x0D: throw ScanError("whitespace outside strings at byte \(pos - 1 - bytes.startIndex)")
            case UInt8(ascii: "{"): depth += 1
            case UInt8(ascii: "}"):
                depth -= 1
                if depth == 0 { return bytes[start..<pos] }
            default: break
            }
        }
        throw ScanError("unterminated object starting at byte \(start - bytes.startIndex)")
    }
}
