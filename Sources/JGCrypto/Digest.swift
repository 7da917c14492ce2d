import COpenSSL

/// SHA-256, HMAC-SHA256 and hex helpers over OpenSSL's libcrypto.
public enum Digest {
    public static func sha256(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let a = Array(bytes)
        _ = a.withUnsafeBytes { p in jg_ossl_sha256(p.baseAddress, p.count, &out) }
        return out
    }

    public static func sha256Hex(_ s: String) -> String { hex(sha256(Array(s.utf8))) }

    public static func hmacSHA256(key: [UInt8], message: some Collection<UInt8>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let m = Array(message)
        _ = key.withUnsafeBytes { k in m.withUnsafeBytes { d in jg_ossl_hmac_sha256(k.baseAddress, k.count, d.baseAddress, d.count, &out) } }
        return out
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

    private static let hexDigits = Array("0123456789abcdef".utf8)

    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in bytes {
            out.append(hexDigits[Int(b >> 4)])
            out.append(hexDigits[Int(b & 0xF)])
        }
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

/// Incremental SHA-256, so that a record can be hashed from its parts.
public struct SHA256Stream: ~Copyable {
    private let ctx: OpaquePointer?

    public init() { ctx = jg_ossl_sha256_new() }
    deinit { jg_ossl_sha256_free(ctx) }

    public mutating func update(_ bytes: some Collection<UInt8>) {
        let a = Array(bytes)
        _ = a.withUnsafeBytes { jg_ossl_sha256_update(ctx, $0.baseAddress, $0.count) }
    }

    public mutating func update(_ s: String) {
        var s = s
        s.withUTF8 { p in _ = jg_ossl_sha256_update(ctx, p.baseAddress, p.count) }
    }

    public consuming func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        _ = jg_ossl_sha256_final(ctx, &out)
        return out
    }
}

/// Ed25519 signing for audit checkpoints.
public struct Ed25519Key: Sendable {
    public let privateKey: [UInt8]
    public let publicKey: [UInt8]

    public init?(privateKey: [UInt8]) {
        guard privateKey.count == 32 else { return nil }
        var pub = [UInt8](repeating: 0, count: 32)
        guard jg_ossl_ed25519_public(privateKey, &pub) == 0 else { return nil }
        self.privateKey = privateKey
        self.publicKey = pub
    }

    public static func generate() -> Ed25519Key? {
        guard let seed = Digest.random(32) else { return nil }
        return Ed25519Key(privateKey: seed)
    }

    public func sign(_ message: [UInt8]) -> [UInt8]? {
        var sig = [UInt8](repeating: 0, count: 64)
        return jg_ossl_ed25519_sign(privateKey, message, message.count, &sig) == 0 ? sig : nil
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

    public static func open(key: [UInt8], nonce: [UInt8], aad: [UInt8], ciphertext: [UInt8], tag: [UInt8]) -> [UInt8]? {
        guard key.count == 32, nonce.count == 12, tag.count == 16 else { return nil }
        var out = [UInt8](repeating: 0, count: max(ciphertext.count, 1))
        let r = jg_ossl_aes256gcm_open(key, nonce, aad, aad.count, ciphertext, ciphertext.count, tag, &out)
        return r == 0 ? Array(out.prefix(ciphertext.count)) : nil
    }
}
