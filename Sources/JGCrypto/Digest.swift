import COpenSSL

/// SHA-256, HMAC-SHA256 and hex helpers over OpenSSL's libcrypto.
public enum Digest {
    /// SHA-256, or CryptoFailure when libcrypto reports one (the shim's −1).
    public static func checkedSHA256(_ bytes: some Collection<UInt8>) throws(CryptoFailure) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var rc: Int32 = -1
        if bytes.withContiguousStorageIfAvailable({ p in rc = jg_ossl_sha256(p.baseAddress, p.count, &out) }) == nil {
            let a = Array(bytes)
            rc = a.withUnsafeBytes { p in jg_ossl_sha256(p.baseAddress, p.count, &out) }
        }
        guard rc == 0 else { throw CryptoFailure(operation: "SHA-256") }
        return out
    }

    /// HMAC-SHA256, or CryptoFailure when libcrypto reports one.
    public static func checkedHMACSHA256(key: [UInt8], message: some Collection<UInt8>) throws(CryptoFailure) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let m = Array(message)
        let rc = key.withUnsafeBytes { k in m.withUnsafeBytes { d in jg_ossl_hmac_sha256(k.baseAddress, k.count, d.baseAddress, d.count, &out) } }
        guard rc == 0 else { throw CryptoFailure(operation: "HMAC-SHA256") }
        return out
    }

    /// SHA-256 for the callers that cannot go on without it (digests in every decision and audit line):
    /// a libcrypto failure ends the process (CryptoFailure.fatal) rather than returning 32 zero bytes.
    public static func sha256(_ bytes: some Collection<UInt8>) -> [UInt8] {
        do { return try checkedSHA256(bytes) } catch { error.fatal() }
    }

    public static func sha256Hex(_ s: String) -> String { hex(sha256(Array(s.utf8))) }

    public static func hmacSHA256(key: [UInt8], message: some Collection<UInt8>) -> [UInt8] {
        do { return try checkedHMACSHA256(key: key, message: message) } catch { error.fatal() }
    }

    /// Constant-time equality of two equal-length byte arrays (false when lengths differ).
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in jg_ossl_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
    }

    public static func random(_ count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        return jg_ossl_random(&out, count) == 0 ? out : nil
    }

    /// Appends the lowercase hex of `bytes` to `out` (the same digits as `hex`).
    public static func appendHex(_ bytes: some Sequence<UInt8>, to out: inout [UInt8]) {
        if bytes.withContiguousStorageIfAvailable({ appendHex(UnsafeRawBufferPointer($0), to: &out) }) == nil {
            appendHex(Array(bytes), to: &out)
        }
    }

    public static func appendHex(_ bytes: [UInt8], to out: inout [UInt8]) {
        bytes.withUnsafeBytes { appendHex($0, to: &out) }
    }

    /// Writes the digits in place: one resize of `out`, no per-byte append.
    public static func appendHex(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let n = bytes.count
        guard n > 0, let src = bytes.baseAddress else { return }
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: n * 2))
        let d = hexTable.utf8Start
        out.withUnsafeMutableBufferPointer { o in
            let dst = o.baseAddress! + start
            for i in 0..<n {
                let b = src.load(fromByteOffset: i, as: UInt8.self)
                dst[2 &* i] = d[Int(b &>> 4)]
                dst[2 &* i &+ 1] = d[Int(b & 0xF)]
            }
        }
    }

    private static let hexTable: StaticString = "0123456789abcdef"

    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(64)
        appendHex(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses hex of either case; nil on odd length or a non-hex character.
    public static func unhex(_ s: some StringProtocol) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let h = nibble(u[i]), let l = nibble(u[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// Incremental SHA-256, so that a record can be hashed from its parts. A libcrypto failure on any step
/// (the shim's −1, also when the context could not be allocated) is remembered: `checkedFinalize`
/// throws it, `finalize` ends the process (CryptoFailure.fatal) — never a digest of zeros.
public struct SHA256Stream: ~Copyable {
    private let ctx: OpaquePointer?
    private var failed: Bool

    public init() {
        ctx = jg_ossl_sha256_new()
        failed = ctx == nil
    }
    deinit { jg_ossl_sha256_free(ctx) }

    public mutating func update(_ bytes: some Collection<UInt8>) {
        // Arrays and their slices hash in place; only other collections are copied first.
        var rc: Int32 = 0
        if bytes.withContiguousStorageIfAvailable({ rc = jg_ossl_sha256_update(ctx, $0.baseAddress, $0.count) }) == nil {
            let a = Array(bytes)
            rc = a.withUnsafeBytes { jg_ossl_sha256_update(ctx, $0.baseAddress, $0.count) }
        }
        if rc != 0 { failed = true }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        if jg_ossl_sha256_update(ctx, bytes.baseAddress, bytes.count) != 0 { failed = true }
    }

    /// Hashes the big-endian bytes of `v`.
    public mutating func update(bigEndian v: UInt64) {
        let rc = withUnsafeBytes(of: v.bigEndian) { jg_ossl_sha256_update(ctx, $0.baseAddress, $0.count) }
        if rc != 0 { failed = true }
    }

    public mutating func update(_ s: String) {
        var s = s
        let rc = s.withUTF8 { p in jg_ossl_sha256_update(ctx, p.baseAddress, p.count) }
        if rc != 0 { failed = true }
    }

    public consuming func checkedFinalize() throws(CryptoFailure) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        guard !failed, jg_ossl_sha256_final(ctx, &out) == 0 else { throw CryptoFailure(operation: "SHA-256") }
        return out
    }

    public consuming func finalize() -> [UInt8] {
        do { return try checkedFinalize() } catch { error.fatal() }
    }

    /// Finishes the hash and appends its 64 lowercase hex digits to `out`, with no intermediate array.
    public consuming func finalizeHex(into out: inout [UInt8]) {
        var d: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let ok = withUnsafeMutableBytes(of: &d) { p in
            guard !failed, jg_ossl_sha256_final(ctx, p.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0 else { return false }
            Digest.appendHex(UnsafeRawBufferPointer(p), to: &out)
            return true
        }
        if !ok { CryptoFailure(operation: "SHA-256").fatal() }
    }
}

/// Ed25519 signing for audit checkpoints. The private key lives in SecretBytes (locked, never dumped,
/// wiped when the last copy of this key goes).
public struct Ed25519Key: Sendable {
    private let secret: SecretBytes
    public let publicKey: [UInt8]

    public init?(privateKey: [UInt8]) {
        guard privateKey.count == 32, let s = SecretBytes(privateKey) else { return nil }
        var pub = [UInt8](repeating: 0, count: 32)
        let r = s.withUnsafeBytes { jg_ossl_ed25519_public($0.bindMemory(to: UInt8.self).baseAddress, &pub) }
        guard r == 0 else { return nil }
        secret = s
        publicKey = pub
    }

    /// A heap copy of the seed, only to write the key file once; the caller wipes it (SecretBytes.wipe).
    public var privateKey: [UInt8] { secret.copyBytes() }

    public static func generate() -> Ed25519Key? {
        guard var seed = Digest.random(32) else { return nil }
        defer { SecretBytes.wipe(&seed) }
        return Ed25519Key(privateKey: seed)
    }

    public func sign(_ message: [UInt8]) -> [UInt8]? {
        var sig = [UInt8](repeating: 0, count: 64)
        let r = secret.withUnsafeBytes { jg_ossl_ed25519_sign($0.bindMemory(to: UInt8.self).baseAddress, message, message.count, &sig) }
        return r == 0 ? sig : nil
    }

    public static func verify(publicKey: [UInt8], message: [UInt8], signature: [UInt8]) -> Bool {
        guard publicKey.count == 32, signature.count == 64 else { return false }
        return jg_ossl_ed25519_verify(publicKey, message, message.count, signature) == 1
    }
}

/// AES-256-GCM for sealing personal data per subject (crypto-shredding: deleting the key erases it).
public enum Seal {
    public static func seal(key: [UInt8], nonce: [UInt8], aad: [UInt8], plaintext: [UInt8]) -> (ciphertext: [UInt8], tag: [UInt8])? {
        guard key.count == 32, nonce.count == 12 else { return nil }
        var out = [UInt8](repeating: 0, count: max(plaintext.count, 1))
        var tag = [UInt8](repeating: 0, count: 16)
        let r = jg_ossl_aes256gcm_seal(key, nonce, aad, aad.count, plaintext, plaintext.count, &out, &tag)
        return r == 0 ? (Array(out.prefix(plaintext.count)), tag) : nil
    }

    /// An AES-256-GCM key with its expanded schedule kept, for sealing many messages under one key
    /// without setting the key up again for each (what `seal(key:…)` does).
    public final class Key {
        private let k: OpaquePointer

        public init?(_ key: [UInt8]) {
            guard key.count == 32, let k = jg_ossl_gcm_key_new(key) else { return nil }
            self.k = k
        }

        deinit { jg_ossl_gcm_key_free(k) }

        /// Seals `plaintext` and appends the ciphertext (same length) to `ciphertext` and the 16-byte tag to
        /// `tag`. The output is exactly `Seal.seal(key:nonce:aad:plaintext:)`'s. `nonce` must be 12 bytes.
        public func seal(nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, plaintext: UnsafeRawBufferPointer,
                         ciphertext: inout [UInt8], tag: inout [UInt8]) -> Bool {
            guard nonce.count == 12 else { return false }
            let start = ciphertext.count
            // At least one byte, so the output pointer exists even for an empty plaintext.
            ciphertext.append(contentsOf: repeatElement(0, count: max(plaintext.count, 1)))
            let tagStart = tag.count
            tag.append(contentsOf: repeatElement(0, count: 16))
            let r = ciphertext.withUnsafeMutableBufferPointer { c in
                tag.withUnsafeMutableBufferPointer { t in
                    jg_ossl_gcm_key_seal(k, nonce.baseAddress!.assumingMemoryBound(to: UInt8.self), aad.baseAddress, aad.count,
                                         plaintext.baseAddress, plaintext.count, c.baseAddress! + start, t.baseAddress! + tagStart)
                }
            }
            if r != 0 {
                ciphertext.removeSubrange(start...)
                tag.removeSubrange(tagStart...)
                return false
            }
            if plaintext.isEmpty { ciphertext.removeLast() }
            return true
        }
    }

    public static func open(key: [UInt8], nonce: [UInt8], aad: [UInt8], ciphertext: [UInt8], tag: [UInt8]) -> [UInt8]? {
        guard key.count == 32, nonce.count == 12, tag.count == 16 else { return nil }
        var out = [UInt8](repeating: 0, count: max(ciphertext.count, 1))
        let r = jg_ossl_aes256gcm_open(key, nonce, aad, aad.count, ciphertext, ciphertext.count, tag, &out)
        return r == 0 ? Array(out.prefix(ciphertext.count)) : nil
    }
}
