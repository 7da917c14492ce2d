import Glibc
import JGCrypto
import JGIPC
import JGJSON
import Testing

@Suite struct FrameTests {
    @Test func headerVectorsOfProtocolSection9() {
        #expect(Frame.checkHeader([0, 0, 0, 5, 1]) == .body(length: 5))
        #expect(Frame.checkHeader([0xFF, 0xFF, 0xFF, 0xFF, 0xAB]) == .badVersion(0xAB))
        #expect(Frame.checkHeader([0, 0x40, 0, 0, 1]) == .body(length: 4_194_304))
        #expect(Frame.checkHeader([0, 0x40, 0, 1, 1]) == .tooLarge(4_194_305))
    }

    @Test func allowReplyIsTheNineteenBytesOfTheContract() {
        let f = Frame.encode(Array("SIGNAL: ALLOW\n".utf8))
        #expect(f == [0, 0, 0, 0x0e, 1, 0x53, 0x49, 0x47, 0x4e, 0x41, 0x4c, 0x3a, 0x20, 0x41, 0x4c, 0x4c, 0x4f, 0x57, 0x0a])
    }

    @Test func linkCodecRoundTripAndShortInput() throws {
        var w = LinkWriter(type: 7)
        w.u64(42); w.string("héllo"); w.f64(-1.5); w.optString(nil); w.strings(["a", "b"]); w.pairs([("x", 2)])
        var r = try #require(LinkReader(body: w.bytes))
        #expect(r.type == 7)
        #expect(r.u64() == 42)
        #expect(r.string() == "héllo")
        #expect(r.f64() == -1.5)
        #expect(r.optString() == .some(nil))
        #expect(r.strings() == ["a", "b"])
        #expect(r.pairs()?.first?.0 == "x")
        #expect(r.atEnd)
        var short = try #require(LinkReader(body: [1, 0, 0, 0, 9, 65]))
        #expect(short.string() == nil)
        #expect(short.u32() == 9, "a failed read must not consume")
    }

    @Test func linkCodecBytesAndUTF8Validation() throws {
        var w = LinkWriter(type: 3)
        w.u32(0x0102_0304); w.u64(0x0102_0304_0506_0708); w.string("abc"); w.string("é")
        #expect(w.bytes == [3, 1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 3, 0x61, 0x62, 0x63, 0, 0, 0, 2, 0xC3, 0xA9])
        // Strings are validated wherever a non-ASCII byte sits (the ASCII check reads eight bytes at a time).
        for i in 0..<21 {
            var bad = [UInt8](repeating: UInt8(ascii: "a"), count: 21)
            bad[i] = 0xFF
            var wb = LinkWriter(type: 1)
            wb.data(bad)
            var rb = try #require(LinkReader(body: wb.bytes))
            #expect(rb.string() == nil)
            let good = String(repeating: "a", count: i) + "é😀" + String(repeating: "b", count: 20 - i)
            var wg = LinkWriter(type: 1)
            wg.string(good)
            var rg = try #require(LinkReader(body: wg.bytes))
            #expect(rg.string() == good)
            #expect(rg.atEnd)
        }
    }

    @Test func descriptorPassesOverASocketpairAndBecomesOwned() throws {
        let (a, b) = try Sockets.pair()
        let (x, y) = try Sockets.pair()
        try Sockets.send(Array("hi".utf8), passing: x, over: a)
        var buf = [UInt8](repeating: 0, count: 16)
        let (n, fd) = try Sockets.receive(into: &buf, from: b)
        #expect(n == 2)
        let got = try #require(fd)
        #expect(fcntl(got.raw, F_GETFD) & FD_CLOEXEC != 0)
        try got.writeAll([9])
        var one: UInt8 = 0
        #expect(read(y.raw, &one, 1) == 1 && one == 9)
    }

    @Test func peerCredentialsComeFromTheKernel() throws {
        let (a, _) = try Sockets.pair()
        let c = try Sockets.peerCredentials(a)
        #expect(c.pid == getpid())
        #expect(c.uid == getuid())
    }
}

@Suite struct JSONTests {
    @Test(arguments: ["{\"a\":1,\"a\":2}", "{\"x\":{\"b\":1,\"b\":1}}", "[1,]", "{\"a\":1} x", "01", "NaN", "Infinity", "\"\\ud800\"", "{\"a\":\"\u{1}\"}"])
    func rejects(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test func integersAreExactAndFloatsAreNotIntegers() throws {
        #expect(try JSONParser.parse("18446744073709551615") == .integer(.unsigned(UInt64.max)))
        #expect(try JSONParser.parse("5.0") == .number(5))
        #expect(try JSONParser.parse("-3") == .integer(.signed(-3)))
        #expect(throws: JSONParseError.self) { try JSONParser.parse("1e400") }
        if case .number = try JSONParser.parse("1180591620717411303424") {} else { Issue.record("2^70 must not be an integer") }
    }

    @Test func depthIsBounded() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
    }

    @Test func writerEscapesAndRoundTrips() throws {
        let v: JSONValue = .object([("k", .string("a\"b\\c\n\u{1}é")), ("n", .number(0.5)), ("i", .integer(.signed(3)))])
        let text = JSONWriter.write(v)
        #expect(text == "{\"k\":\"a\\\"b\\\\c\\n\\u0001é\",\"n\":0.5,\"i\":3}")
        #expect(try JSONParser.parse(text) == v)
    }
}

@Suite struct CryptoTests {
    @Test func hmacVectorsOfProtocolSection9() {
        let v1 = Digest.hex(Digest.hmacSHA256(key: Array("unit-test-secret-key".utf8), message: Array("{\"sequence_counter\":1}".utf8)))
        #expect(v1 == "a9a3477e0b191ad737e46d0a5d98f70ff2374512800bbfde830a13dc6dbc1475")
        let p2 = "{\"sequence_counter\":700000001,\"intent_name\":\"read_customer_record\",\"action_risk_score\":10,\"agent_id\":\"claims_agent\"}"
        #expect(Digest.hex(Digest.hmacSHA256(key: Array("test-secret".utf8), message: Array(p2.utf8))) == "6eedc473d248caf8b5212a7d672f4895608e1af97a1d5307c0c16fbc3347fb22")
        let p3 = "{\"intent_name\":\"read_customer_record\",\"agent_id\":\"claims_agent\",\"sequence_counter\":700000001,\"session_privilege_bit\":0.0,\"action_risk_score\":10.0}"
        #expect(Digest.hex(Digest.hmacSHA256(key: Array("test-secret".utf8), message: Array(p3.utf8))) == "b004b90e70a464294f24ceef5aafbe5f821ecc342343cd903bc181da992cda47")
    }

    /// RFC 4231 and key-length boundaries (the HMAC is built from SHA-256 in the shim).
    @Test func hmacAndSHA256ReferenceVectors() {
        func hmac(_ key: [UInt8], _ msg: String) -> String { Digest.hex(Digest.hmacSHA256(key: key, message: Array(msg.utf8))) }
        #expect(hmac(Array("Jefe".utf8), "what do ya want for nothing?") == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(hmac(Array(repeating: 0xAA, count: 131), "Test Using Larger Than Block-Size Key - Hash Key First")
            == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        #expect(hmac([], "") == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
        #expect(hmac(Array(repeating: UInt8(ascii: "k"), count: 64), "boundary") == "5a1af747e37d07140ec0b58fa01f85d1b3f0aeef2f6719091e9517e8b474a978")
        #expect(hmac(Array(repeating: UInt8(ascii: "k"), count: 65), "boundary") == "ef3f1f0b6c378507c6cd325246f1e48412bbceab9e755d485dc639946cfe3785")
        #expect(Digest.sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.sha256Hex(String(repeating: "a", count: 1000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test func ed25519SignsAndRejectsTampering() throws {
        let k = try #require(Ed25519Key.generate())
        let sig = try #require(k.sign([1, 2, 3]))
        #expect(Ed25519Key.verify(publicKey: k.publicKey, message: [1, 2, 3], signature: sig))
        #expect(!Ed25519Key.verify(publicKey: k.publicKey, message: [1, 2, 4], signature: sig))
    }
}
