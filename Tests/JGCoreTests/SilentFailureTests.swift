import COpenSSL
import Glibc
import JGCrypto
import JGIPC
import Testing

/// Errors that used to be swallowed (#16): the crypto shim's −1, short writes.
@Suite struct SilentFailureTests {
    @Test func sha256ShimReportsAMissingContextInsteadOfZeros() {
        var out = [UInt8](repeating: 0xAA, count: 32)
        let data: [UInt8] = [1, 2, 3]
        #expect(data.withUnsafeBytes { jg_ossl_sha256_update(nil, $0.baseAddress, $0.count) } == -1)
        #expect(jg_ossl_sha256_final(nil, &out) == -1)
        #expect(out == [UInt8](repeating: 0xAA, count: 32))
    }

    @Test func checkedDigestsGiveTheKnownValues() throws {
        #expect(Digest.hex(try Digest.checkedSHA256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // PROTOCOL.md §9, first vector.
        let mac = try Digest.checkedHMACSHA256(key: Array("unit-test-secret-key".utf8), message: Array("{\"sequence_counter\":1}".utf8))
        #expect(Digest.hex(mac) == "a9a3477e0b191ad737e46d0a5d98f70ff2374512800bbfde830a13dc6dbc1475")
        var s = SHA256Stream()
        s.update(Array("ab".utf8)); s.update("c")
        #expect(Digest.hex(try s.checkedFinalize()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func writeFullyWritesEverythingToAFile() {
        let path = "/tmp/jg-writefully-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        #expect(fd >= 0)
        defer { unlink(path); close(fd) }
        let bytes = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        #expect(writeFully(fd, bytes))
        #expect(Files.read(path, limit: 4 << 20) == bytes)
    }

    @Test func writeFullyFailsWithTheErrnoOfARealError() {
        #expect(writeFully(-1, [1, 2, 3]) == false)
        #expect(errno == EBADF)
    }
}

