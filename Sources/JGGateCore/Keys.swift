import JGCrypto
import JGPolicy
import JGJSON

/// The HMAC keys the gate accepts (PROTOCOL.md §4). Each key may have two accepted forms: the raw
/// bytes of its file and the same bytes with trailing whitespace trimmed.
public struct KeySet: Sendable {
    /// Every key form, back to back, in locked, never-dumped memory that is wiped when this key set is
    /// replaced (SecretBytes); the lists below are ranges into it.
    private let arena: SecretBytes?
    private let currentRanges: [Range<Int>]
    private let previousRanges: [Range<Int>]
    private let agentRanges: [String: [Range<Int>]]
    /// Unix seconds; the previous key is tried while now <= previousValidUntil.
    public let previousValidUntil: UInt64

    /// Takes copies of the keys; the caller wipes its own arrays (SecretBytes.wipe) if it holds them longer.
    public init(current: [[UInt8]], previous: [[UInt8]] = [], previousValidUntil: UInt64 = 0, agentKeys: [String: [[UInt8]]] = [:]) {
        var all: [UInt8] = []
        func place(_ forms: [[UInt8]]) -> [Range<Int>] {
            forms.map { f in
                let lo = all.count
                all.append(contentsOf: f)
                return lo..<all.count
            }
        }
        currentRanges = place(current)
        previousRanges = place(previous)
        var a: [String: [Range<Int>]] = [:]
        for (id, forms) in agentKeys.sorted(by: { $0.key < $1.key }) { a[id] = place(forms) }
        agentRanges = a
        // No memory for the secret arena means no key: every signature fails (fail closed).
        arena = SecretBytes(taking: &all)
        self.previousValidUntil = previousValidUntil
    }

    /// Whether the keys are locked in RAM (mlock can be refused by RLIMIT_MEMLOCK).
    public var locked: Bool { arena?.locked ?? false }

    private func copies(_ ranges: [Range<Int>]) -> [[UInt8]] { ranges.map { arena?.copyBytes($0) ?? [] } }
    /// Copies on the ordinary heap: for the supervisor, which hands the keys to the gate.
    public var current: [[UInt8]] { copies(currentRanges) }
    public var previous: [[UInt8]] { copies(previousRanges) }
    /// agent id → that agent's only accepted key forms.
    public var agentKeys: [String: [[UInt8]]] { agentRanges.mapValues { copies($0) } }

    /// The accepted forms of a key read from a file: trailing `\n`, `\r` and spaces trimmed, and the raw
    /// bytes too when they differ.
    public static func forms(ofFileBytes raw: [UInt8]) -> [[UInt8]] {
        var t = raw
        while let l = t.last, l == 0x0A || l == 0x0D || l == 0x20 { t.removeLast() }
        return t == raw ? [t] : [t, raw]
    }

    /// Upper- or lower-case hex with surrounding whitespace; constant-time comparison.
    public func verify(payload: String, signature: String, claimedAgent: String?, now: UInt64) -> Bool {
        // A signature as clients send it has nothing to trim: skip the Unicode whitespace look-ups.
        let sig: String
        if let f = signature.utf8.first, let l = signature.utf8.last, TextSearch.isPrintableASCII(f), TextSearch.isPrintableASCII(l) {
            sig = signature
        } else {
            sig = signature.trimmingWhitespace()
        }
        guard sig.utf8.count == 64, let given = Self.unhex(sig) else { return false }
        guard let arena else { return false }
        let message = Array(payload.utf8)
        var ok = false
        func tryKeys(_ keys: [Range<Int>]) {
            message.withUnsafeBytes { m in
                for k in keys where !k.isEmpty {
                    // No early exit: every candidate is tried so timing does not tell which one matched.
                    if Digest.constantTimeEqual(Digest.hmacSHA256(key: arena, range: k, message: m), given) { ok = true }
                }
            }
        }
        if let a = claimedAgent, let own = agentRanges[a] {
            tryKeys(own)
        } else {
            tryKeys(currentRanges)
            if now <= previousValidUntil { tryKeys(previousRanges) }
        }
        return ok
    }

    /// `Digest.unhex` (either case, nil on anything else) without its generic, cross-module path.
    static func unhex(_ s: String) -> [UInt8]? {
        let fast: [UInt8]?? = s.utf8.withContiguousStorageIfAvailable { u -> [UInt8]? in
            guard u.count % 2 == 0 else { return nil }
            var out = [UInt8](repeating: 0, count: u.count / 2)
            for i in 0..<out.count {
                guard let h = nibble(u[2 * i]), let l = nibble(u[2 * i + 1]) else { return nil }
                out[i] = h << 4 | l
            }
            return out
        }
        return fast ?? Digest.unhex(s)
    }

    @inline(__always)
    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
