import COpenSSL

/// Key material in memory of its own: never in a core dump, zero in a forked child, locked in RAM when
/// the memlock limit allows, and wiped when the owner lets it go (DESIGN.md §1). Immutable once made,
/// so sharing it is safe; replacing a key means making a new one and dropping the old.
public final class SecretBytes: @unchecked Sendable {
    private let base: UnsafeMutableRawPointer
    public let count: Int
    /// Whether mlock succeeded (RLIMIT_MEMLOCK may refuse; the rest of the protection holds either way).
    public let locked: Bool

    /// Copies `bytes` in. The caller's array is an ordinary heap copy: wipe it with `SecretBytes.wipe`.
    public init?(_ bytes: [UInt8]) {
        var l: Int32 = 0
        guard let p = bytes.withUnsafeBytes({ jg_ossl_secret_dup($0.baseAddress, $0.count, &l) }) else { return nil }
        base = p
        count = bytes.count
        locked = l != 0
    }

    /// Takes the bytes and wipes the array they came from.
    public convenience init?(taking bytes: inout [UInt8]) {
        self.init(bytes)
        Self.wipe(&bytes)
    }

    deinit { jg_ossl_secret_free(base, count) }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// The bytes in `range`, for HMAC and signing without copying them out.
    public func withUnsafeBytes<R>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        return try body(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }

    /// A copy on the ordinary heap, for the few callers that must write a key out (the key file).
    public func copyBytes(_ range: Range<Int>? = nil) -> [UInt8] {
        withUnsafeBytes(range ?? 0..<count) { Array($0) }
    }

    /// Zeroes an ordinary array in place (a store the compiler may not drop) and empties it.
    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { jg_ossl_wipe($0.baseAddress, $0.count) }
        bytes.removeAll()
    }
}

extension Digest {
    /// HMAC-SHA256 under a key held in secret memory.
    public static func hmacSHA256(key: SecretBytes, range: Range<Int>, message: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let rc = key.withUnsafeBytes(range) { k in jg_ossl_hmac_sha256(k.baseAddress, k.count, message.baseAddress, message.count, &out) }
        guard rc == 0 else { CryptoFailure(operation: "HMAC-SHA256").fatal() }
        return out
    }
}
