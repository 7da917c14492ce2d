import JGBrokerCore
import JGIPC
import JGJSON
import Testing

/// Inputs the fuzz targets (fuzzing/, docs/fuzzing.md) found, kept as regressions: each failed before
/// its fix.
@Suite struct FuzzFindingsTests {
    /// A check context as the gate writes it, with `pid` and the digested contents' length as given.
    static func contextBody(pid: Int64, contentsLength: UInt64?) -> [UInt8] {
        var w = LinkWriter(type: GateToProver.check.rawValue)
        w.u64(42); w.string("claims_agent"); w.i64(pid); w.u32(1000); w.u32(1000)
        w.string("lin-1"); w.u64(7); w.optString(nil); w.string("ab"); w.bool(false); w.bool(false)
        w.f64(1); w.f64(2); w.f64(3); w.f64(4); w.bool(false)
        w.string("Low"); w.strings([]); w.pairs([]); w.pairs([]); w.string("cd"); w.f64(1.5); w.f64(2.5)
        w.bool(contentsLength != nil)
        if let n = contentsLength { w.string("ef"); w.string("01"); w.u64(n) }
        return w.bytes
    }

    /// fuzz target `link`: a pid beyond 32 bits was truncated into some other process's pid (the gate
    /// never writes one; a link that carries one is broken, not reinterpreted).
    @Test func contextWithAPidBeyond32BitsDoesNotDecode() throws {
        for pid in [Int64(Int32.max) + 1, Int64(Int32.min) - 1, 0x3a3_0000_04d2] {
            var r = try #require(LinkReader(body: Self.contextBody(pid: pid, contentsLength: nil)))
            #expect(DecisionContext.decode(from: &r) == nil, "pid \(pid)")
        }
        var ok = try #require(LinkReader(body: Self.contextBody(pid: 1234, contentsLength: nil)))
        #expect(DecisionContext.decode(from: &ok)?.peer.pid == 1234)
    }

    /// fuzz target `link`: a contents length beyond Int.max was clamped instead of refused.
    @Test func contextWithAContentsLengthBeyondIntDoesNotDecode() throws {
        var r = try #require(LinkReader(body: Self.contextBody(pid: 1, contentsLength: UInt64(Int.max) + 1)))
        #expect(DecisionContext.decode(from: &r) == nil)
        var ok = try #require(LinkReader(body: Self.contextBody(pid: 1, contentsLength: 99)))
        #expect(DecisionContext.decode(from: &ok)?.digestedContents?.contentsLength == 99)
    }
}


/// fuzz target `url`: a combining mark after `/` (`https:///\u{06D7}./…`, `https://127.0.0.1/\u{0301}.x/`)
/// made one Character of the two, so the authority ran on past the slash that ends it for curl: the
/// rules judged `127.0.0.1/́.x` (a name), curl connects to 127.0.0.1. The URL is read byte by byte now,
/// and a host that is not ASCII (an IDN, which curl would convert) is refused.
@Suite struct URLGraphemeFindingsTests {
    @Test func aCombiningMarkDoesNotHideTheEndOfTheAuthority() {
        for url in ["https://127.0.0.1/\u{0301}.example.com/", "https:///\u{06D7}./8::1]", "https://10.0.0.1?\u{0301}x.com",
                    "https://169.254.169.254#\u{20DD}.example.com", "https://\u{FF4C}\u{FF4F}\u{FF43}\u{FF41}\u{FF4C}\u{FF48}\u{FF4F}\u{FF53}\u{FF54}/",
                    "https://b\u{00FC}cher.example/"] {
            #expect(URLRules.violation(url) != nil, "\(url)")
        }
        #expect(URLRules.parse("https://127.0.0.1/\u{0301}.example.com/")?.host == "127.0.0.1")
        #expect(URLRules.parse("https://EXAMPLE.com:8443/x")?.host == "example.com")
        #expect(URLRules.parse("https://[2001:DB8::1]/")?.host == "2001:db8::1")
    }
}

/// fuzz target `url`: `https://2130706433/` passed the URL rules (not an inet_pton literal, so judged as
/// a name) while libcurl — and getaddrinfo — read it as 127.0.0.1: the rules and the connection were
/// about two different hosts. Every inet_aton spelling of an IPv4 address other than the dotted quad is
/// now refused by the rules themselves; so are percent-encoded hosts (`exa%6dple.com`, which curl
/// decodes).
@Suite struct URLSpellingFindingsTests {
    @Test func numericIPv4SpellingsAreRefused() {
        for url in ["https://2130706433/", "https://0x7f000001/", "https://0x7f.1/", "https://127.1/", "https://017700000001/",
                    "https://0177.0.0.1/", "https://8.8.8.010/", "https://134744072/", "https://exa%6dple.com/",
                    "https://127.0.0%2e1/", "https://[::1%25lo]/"] {
            #expect(URLRules.violation(url) != nil, "\(url)")
        }
        #expect(URLRules.violation("https://8.8.8.8/") == nil)
        #expect(URLRules.violation("https://ex-ample.com/a/\u{0301}b") == nil)
        #expect(URLRules.violation("https://example.com/") == nil)
        #expect(URLRules.violation("https://1e100.net/") == nil)
    }
}

/// Differential run `json` (scripts/fuzz_differential.py against Python's json): JSONParser read bytes
/// that are not UTF-8 inside strings as U+FFFD, where every other parser refuses the text — so a text
/// could mean one string to us and none (or another) to the program it is passed on to.
@Suite struct JSONUTF8FindingsTests {
    @Test(arguments: [[0x22, 0xFF, 0x22], [0x22, 0x61, 0xC3, 0x22], [0x7B, 0x22, 0xC4, 0x6F, 0x22, 0x3A, 0x31, 0x7D],
                      [0x22, 0x5C, 0x6E, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xC0, 0xAF, 0x22]] as [[UInt8]])
    func stringsThatAreNotUTF8AreRefused(_ bytes: [UInt8]) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(bytes) }
    }

    @Test func utf8StringsStillParse() throws {
        #expect(try JSONParser.parse(Array("\"é😀\\n\"".utf8)) == .string("é😀\n"))
        #expect(try JSONParser.parse(Array("{\"é\":\"x\"}".utf8))["é"] == .string("x"))
    }
}

import JGPolicy

/// fuzz target `invariant`: expressions that parse must print (description) as text that parses back.
@Suite struct InvariantFindingsTests {
    @Test func manyNotsPrintAsTextThatParses() throws {
        let e = try InvariantParser.parse(String(repeating: "!", count: 41) + "x <000")
        #expect(try InvariantParser.parse(e.description) == e)
        let deepest = try InvariantParser.parse(String(repeating: "!", count: 63) + "x < 0")
        #expect(try InvariantParser.parse(deepest.description) == deepest)
    }

    @Test func longChainsPrintFlat() throws {
        for op in ["&&", "||"] {
            let text = (1...100).map { "x\($0) < 1" }.joined(separator: " \(op) ")
            let e = try InvariantParser.parse(text)
            #expect(try InvariantParser.parse(e.description) == e, "\(op)")
        }
        let mixed = try InvariantParser.parse("a < 1 && b < 1 || c < 1 && d < 1 || !(e < 1)")
        #expect(try InvariantParser.parse(mixed.description) == mixed)
    }

    @Test func nestingIsStillBounded() {
        #expect(throws: InvariantSyntaxError.self) { try InvariantParser.parse(String(repeating: "!(", count: 70) + "x < 0" + String(repeating: ")", count: 70)) }
        #expect(throws: InvariantSyntaxError.self) { try InvariantParser.parse(String(repeating: "!", count: 70) + "x < 0") }
        #expect(throws: InvariantSyntaxError.self) { try InvariantParser.parse(String(repeating: "(", count: 70) + "x" + String(repeating: ")", count: 70) + " < 0") }
    }
}
