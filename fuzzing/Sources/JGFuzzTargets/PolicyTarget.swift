import JGPolicy
import JGPolicyYAML

/// The policy loader: YAML → Policy (PolicyLoader, which checks every field), then its canonical JSON,
/// which every component decodes. A policy that loads must encode to canonical text that decodes, and
/// encodes to the same text again (the policy digest is taken over it).
enum PolicyTarget {
    static func runYAML(_ data: [UInt8]) {
        guard let t = text(data), let p = try? PolicyLoader.load(text: t, sourceName: "fuzz") else { return }
        canonicalRoundTrip(CanonicalPolicy.encode(p), data)
    }

    /// CanonicalPolicy.decode on arbitrary text: the components' side of the same chain.
    static func runCanonical(_ data: [UInt8]) {
        guard let t = text(data), let p = try? CanonicalPolicy.decode(t) else { return }
        canonicalRoundTrip(CanonicalPolicy.encode(p), data)
    }

    static func canonicalRoundTrip(_ enc: String, _ data: [UInt8]) {
        let back: Policy
        do { back = try CanonicalPolicy.decode(enc) } catch { violated("canonical policy does not decode: \(error)", data) }
        guard CanonicalPolicy.encode(back) == enc else { violated("canonical policy is not stable", data) }
    }
}
