import Foundation
import Glibc
import JGAudit
import JGCrypto
import JGJSON
import Testing
import JGTestSupport

/// The String-building JSONWriter as it was before the byte writer, kept verbatim as the reference: the
/// audit chain hashes these exact bytes, so the byte writer must reproduce them for every value.
enum LegacyJSONWriter {
    static func write(_ v: JSONValue) -> String {
        var out = ""
        append(v, to: &out)
        return out
    }

    static func append(_ v: JSONValue, to out: inout String) {
        switch v {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .integer(.signed(i)): out += String(i)
        case let .integer(.unsigned(u)): out += String(u)
        case let .number(d): out += formatNumber(d)
        case let .string(s): appendString(s, to: &out)
        case let .array(items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                append(item, to: &out)
            }
            out += "]"
        case let .object(pairs):
            out += "{"
            for (i, (k, item)) in pairs.enumerated() {
                if i > 0 { out += "," }
                appendString(k, to: &out)
                out += ":"
                append(item, to: &out)
            }
            out += "}"
        }
    }

    static func formatNumber(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }

    static func appendString(_ s: String, to out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }

    /// The audit line as AuditLine.build made it before: objects to Strings, then concatenation, hash over
    /// be64(index) ‖ be64(timestamp) ‖ prev_hash ‖ the four objects.
    static func line(index: UInt64, timestamp: UInt64, prevHash: String, parts: AuditEntryParts) -> (line: [UInt8], hash: String) {
        let objs = [parts.observation, parts.intent, parts.assessment, parts.decision].map { Array(write($0).utf8) }
        func be64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
        let h = Digest.hex(Digest.sha256(be64(index) + be64(timestamp) + Array(prevHash.utf8) + objs.joined()))
        var line = Array("{\"index\":\(index),\"timestamp_secs\":\(timestamp),\"prev_hash\":\"\(prevHash)\",\"observation\":".utf8)
        line += objs[0]
        line += Array(",\"intent\":".utf8)
        line += objs[1]
        line += Array(",\"assessment\":".utf8)
        line += objs[2]
        line += Array(",\"decision\":".utf8)
        line += objs[3]
        line += Array(",\"hash\":\"\(h)\"}\n".utf8)
        return (line, h)
    }
}


enum Corpus {
    static let strings: [String] = [
        "", "a", "plain ascii text", "quote \" inside", "back\\slash", "slash / stays", "\\\"", "\"\"\"",
        "new\nline", "cr\rlf\r\n", "tab\there", "\u{0}", "nul\u{0}in the middle", "\u{1}\u{2}\u{1F}", "\u{7F}del", "\u{8}\u{C}",
        "\u{80}", "\u{9F}", "\u{A0}nbsp", "é", "caf\u{E9}", "cafe\u{301}", "中文字符", "日本語のテキスト", "emoji 😀🎉", "👩‍👩‍👧‍👦",
        "\u{2028}\u{2029}", "\u{FEFF}bom", "\u{FFFD}", "\u{10FFFF}", "\u{D7FF}\u{E000}", "mixed\t\"é\"\n\u{1}😀\\",
        String(repeating: "x", count: 15), String(repeating: "y", count: 16), String(repeating: "long ", count: 200),
        String(repeating: "\u{1}", count: 40), "{\"nested\":\"json\"}", "uid:10001", "request:18446744073709551615",
        String(Substring("a substring of a longer string".dropFirst(2).dropLast(3))),
    ]

    static let doubles: [Double] = [
        0, -0.0, 1, -1, 0.5, -0.5, 0.1, 0.2, 0.30000000000000004, 1.0 / 3, 2.0 / 3, 10, 12.5, 99.99, 100, -42.125,
        1e14, 999_999_999_999_999, 999_999_999_999_999.5, 1e15 - 1, 1e15, -1e15, 1e15 + 1, 1e16, 1.5e15,
        9_007_199_254_740_992, 9_007_199_254_740_994, 1.2345678901234567e17, 1e21, 1e22, 1e23, 1e100, -1e100, 1e300,
        .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNormalMagnitude, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
        1e-5, 1e-4, 0.001, 1e-7, 123.456e-10, 2.2250738585072014e-308, .pi, -.pi, .ulpOfOne,
        .nan, -.nan, .infinity, -.infinity, .signalingNaN,
        Double(Int64.max), Double(Int64.min), Double(UInt64.max), 4_503_599_627_370_496.5, 123_456_789_012_345.6,
    ]

    static let integers: [JSONInteger] = [
        .signed(0), .signed(1), .signed(-1), .signed(9), .signed(10), .signed(-10), .signed(99), .signed(100),
        .signed(Int64.max), .signed(Int64.min), .signed(Int64.min + 1), .signed(1_000_000_007), .signed(-1_234_567_890_123),
        .unsigned(0), .unsigned(7), .unsigned(UInt64.max), .unsigned(UInt64.max - 1), .unsigned(UInt64(Int64.max) + 1),
        .unsigned(1_764_180_000_000_000_001), .unsigned(10_000_000_000_000_000_000),
    ]

    static func randomString(_ g: inout SeededRandom) -> String {
        let pool: [Unicode.Scalar] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1}", "\u{1B}",
                                      "\u{1F}", "\u{7F}", "\u{80}", "é", "ß", "中", "😀", "\u{2028}", "\u{FEFF}", "\u{301}", "{", "}", ":", ","]
        var s = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0..<24, using: &g) {
            if Bool.random(using: &g) {
                s.append(pool[Int.random(in: 0..<pool.count, using: &g)])
            } else {
                // Any scalar at all, surrogates excepted.
                var v = UInt32.random(in: 0...0x10FFFF, using: &g)
                if (0xD800...0xDFFF).contains(v) { v = 0x41 }
                s.append(Unicode.Scalar(v)!)
            }
        }
        return String(s)
    }

    static func randomDouble(_ g: inout SeededRandom) -> Double {
        switch Int.random(in: 0..<5, using: &g) {
        case 0: return Double(bitPattern: g.next())  // anything, NaN and infinities included
        case 1: return Double(Int64.random(in: -2_000_000_000_000_000...2_000_000_000_000_000, using: &g))
        case 2: return Double.random(in: -1000...1000, using: &g)
        case 3: return (Double(Int.random(in: 0...10_000, using: &g)) / 100).rounded(.down) + [0, 0.25, 0.5, 0.1][Int.random(in: 0..<4, using: &g)]
        default: return Double.random(in: 0...1, using: &g) * pow(10, Double(Int.random(in: -30...30, using: &g)))
        }
    }

    static func randomValue(_ g: inout SeededRandom, depth: Int) -> JSONValue {
        let leaf = depth >= 4 || Int.random(in: 0..<3, using: &g) > 0
        if leaf {
            switch Int.random(in: 0..<8, using: &g) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &g))
            case 2: return .integer(.signed(Int64(bitPattern: g.next()) >> Int.random(in: 0..<64, using: &g)))
            case 3: return .integer(.unsigned(g.next() >> Int.random(in: 0..<64, using: &g)))
            case 4, 5: return .number(randomDouble(&g))
            default: return .string(randomString(&g))
            }
        }
        if Bool.random(using: &g) {
            return .array((0..<Int.random(in: 0..<5, using: &g)).map { _ in randomValue(&g, depth: depth + 1) })
        }
        return .object((0..<Int.random(in: 0..<5, using: &g)).map { _ in (randomString(&g), randomValue(&g, depth: depth + 1)) })
    }

    /// Hand-picked values, then nesting of them, then random trees.
    static func values() -> [JSONValue] {
        var vs: [JSONValue] = [.null, .bool(true), .bool(false), .array([]), .object([]), .array([.array([])]),
                               .object([("", .object([]))]), .array([.null, .null])]
        vs += strings.map { .string($0) }
        vs += doubles.map { .number($0) }
        vs += integers.map { .integer($0) }
        vs.append(.object(strings.map { ($0, .string($0)) }))
        vs.append(.array(doubles.map { .number($0) }))
        vs.append(.array(integers.map { .integer($0) }))
        var deep: JSONValue = .string("bottom \"\n")
        for i in 0..<40 { deep = i % 2 == 0 ? .array([deep, .number(Double(i) + 0.5)]) : .object([("k\(i)", deep), ("", .null)]) }
        vs.append(deep)
        var g = SeededRandom(state: 0x5EED_1234)
        for _ in 0..<3000 { vs.append(randomValue(&g, depth: 0)) }
        return vs
    }
}

@Suite("JSON byte writer against the String writer it replaces")
struct JSONBytesTests {
    @Test func bytesMatchTheLegacyStringWriter() {
        var buffer: [UInt8] = [0xAA, 0xBB]  // appends after existing content, into a reused buffer
        for v in Corpus.values() {
            let legacy = LegacyJSONWriter.write(v)
            let expected = Array(legacy.utf8)
            #expect(JSONWriter.bytes(v) == expected, "value \(v)")
            #expect(JSONWriter.write(v) == legacy)
            buffer.removeSubrange(2...)
            JSONWriter.write(v, into: &buffer)
            #expect(Array(buffer[2...]) == expected)
            var s = "prefix"
            JSONWriter.append(v, to: &s)
            #expect(s == "prefix" + legacy)
        }
    }

    @Test func numbersMatchTheLegacyFormatting() {
        var g = SeededRandom(state: 42)
        var ds = Corpus.doubles
        for _ in 0..<200_000 { ds.append(Corpus.randomDouble(&g)) }
        for d in ds {
            #expect(JSONWriter.formatNumber(d) == LegacyJSONWriter.formatNumber(d), "\(d.bitPattern)")
            var b: [UInt8] = []
            JSONWriter.appendNumber(d, to: &b)
            #expect(b == Array(LegacyJSONWriter.formatNumber(d).utf8))
        }
        for i in Corpus.integers {
            #expect(JSONWriter.bytes(.integer(i)) == Array(LegacyJSONWriter.write(.integer(i)).utf8))
        }
        for _ in 0..<100_000 {
            let u = g.next() >> UInt64.random(in: 0..<64, using: &g)
            let i = Int64(bitPattern: g.next()) >> Int64.random(in: 0..<64, using: &g)
            var b: [UInt8] = []
            JSONWriter.appendInteger(u, to: &b)
            #expect(b == Array(String(u).utf8))
            b.removeAll()
            JSONWriter.appendInteger(i, to: &b)
            #expect(b == Array(String(i).utf8))
        }
    }

    @Test func stringsMatchTheLegacyEscaping() {
        var g = SeededRandom(state: 7)
        var ss = Corpus.strings
        for _ in 0..<20_000 { ss.append(Corpus.randomString(&g)) }
        // Every scalar below 0x100 alone, and each of them inside text.
        for v in 0..<0x100 { ss.append(String(Unicode.Scalar(UInt8(v)))); ss.append("a\(Unicode.Scalar(UInt8(v)))b") }
        for s in ss {
            var legacy = ""
            LegacyJSONWriter.appendString(s, to: &legacy)
            #expect(JSONWriter.quote(s) == legacy)
            var b: [UInt8] = []
            JSONWriter.appendString(s, to: &b)
            #expect(b == Array(legacy.utf8), "\(Array(s.unicodeScalars.map(\.value)))")
            var viaString = "x"
            JSONWriter.appendString(s, to: &viaString)
            #expect(viaString == "x" + legacy)
        }
    }

    /// The log's lines, written through the byte writer and the streaming hash, are byte for byte the lines
    /// the old String path built for the same entries and chain.
    @Test func auditLinesMatchTheLegacyBuilder() throws {
        let dir = TempDir()
        let log = try AuditLog(path: dir.log)
        try log.appendBoot(extraSignals: ["test", "é\"\n\u{1}"], observation: .object([("pid", .integer(.signed(1)))]))
        var g = SeededRandom(state: 99)
        var all: [(parts: AuditEntryParts, timestamp: UInt64)] = []
        for batch in 0..<20 {
            var entries: [AuditEntryParts] = []
            for i in 0..<(batch % 5 + 1) {
                func obj() -> JSONValue {
                    guard case let .object(p) = Corpus.randomValue(&g, depth: 1) else { return .object([("i", .integer(.signed(Int64(i))))]) }
                    return .object(p)
                }
                entries.append(AuditEntryParts(observation: obj(), intent: obj(), assessment: .object([("risk", .number(Corpus.randomDouble(&g)))]),
                                               decision: .object([("verdict", .string("ALLOW")), ("reason", .string(Corpus.randomString(&g)))])))
            }
            let ts = 1_700_000_000 + UInt64(batch) * 1_000_003
            try log.append(entries, timestamp: ts)
            all += entries.map { ($0, ts) }
        }
        log.close()

        let got = lines(dir.log)
        #expect(got.count == all.count + 1)
        // The boot marker's hash: the 64 digits before the closing `"}`.
        var prev = String(decoding: got[0][got[0].count - 66..<got[0].count - 2], as: UTF8.self)
        for (n, e) in all.enumerated() where n + 1 < got.count {
            let (expected, h) = LegacyJSONWriter.line(index: UInt64(n + 1), timestamp: e.timestamp, prevHash: prev, parts: e.parts)
            #expect(got[n + 1] + [UInt8(ascii: "\n")] == expected, "line \(n + 1)")
            prev = h
        }
        let r = AuditVerifier.verify(path: dir.log)
        #expect(r.ok, "\(r.reason ?? "")")
        let py = try runPythonVerifier(dir.log)
        #expect(py.status == 0, "\(py.stdout) \(py.stderr)")
    }

    /// Records sealed with the kept key schedule and pooled nonces open with a fresh context, commit to the
    /// bytes stored, never reuse a nonce, and are on disk after `flush`.
    @Test func sealedRecordsOpenAndMatchTheirCommitments() throws {
        let dir = TempDir()
        let store = try SealedStore(auditLogPath: dir.log)
        var commitments: [String: String] = [:]
        var fields: [String: JSONValue] = [:]
        for i in 0..<600 {
            let subject = "uid:\(1000 + i % 3)"
            let ref = "request:\(i)"
            let f: JSONValue = .object([("peer_pid", .integer(.signed(Int64(i)))), ("command", .string("echo \"\(i)\"\n")),
                                        ("path", i % 5 == 0 ? .string("") : .null), ("lineage", .string("é😀\u{1}"))])
            commitments[ref] = try store.seal(subject: subject, reference: ref, fields: f)
            fields[ref] = f
            if i % 50 == 49 { try store.flush() }
        }
        try store.flush()
        var nonces = Set<String>()
        var opened = 0
        for s in 0..<3 {
            let subject = "uid:\(1000 + s)"
            guard let records = SealedStore.open(auditLogPath: dir.log, subject: subject) else { Issue.record("no key"); continue }
            #expect(records.count == 200)
            for (ref, f) in records {
                #expect(fields[ref] == f)
                opened += 1
            }
            let data = readBytes(dir.log + ".sealed/data/" + Digest.sha256Hex(subject) + ".jsonl")
            for line in data.split(separator: UInt8(ascii: "\n")) {
                let v = try JSONParser.parse(line)
                let n = Digest.unhex(v["nonce"]!.stringValue!)!, ct = Digest.unhex(v["ct"]!.stringValue!)!, tag = Digest.unhex(v["tag"]!.stringValue!)!
                #expect(commitments[v["ref"]!.stringValue!] == Digest.hex(Digest.sha256(n + ct + tag)))
                #expect(nonces.insert(v["nonce"]!.stringValue!).inserted)
                // The line is what JSONWriter makes of the record object.
                #expect(Array(line) == JSONWriter.bytes(.object([("ref", v["ref"]!), ("nonce", v["nonce"]!), ("ct", v["ct"]!), ("tag", v["tag"]!)])))
                // And the reused context seals exactly as the one-shot function does.
                let plain = JSONWriter.bytes(fields[v["ref"]!.stringValue!]!)
                let key = Digest.unhex(String(decoding: readBytes(dir.log + ".sealed/keys/" + Digest.sha256Hex(subject)), as: UTF8.self).trimmingWhitespace())!
                let oneShot = Seal.seal(key: key, nonce: n, aad: Array(v["ref"]!.stringValue!.utf8), plaintext: plain)
                #expect(oneShot?.ciphertext == ct && oneShot?.tag == tag)
            }
        }
        #expect(opened == 600)
    }
}
