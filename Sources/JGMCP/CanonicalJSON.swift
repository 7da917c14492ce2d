import JGCrypto
import JGJSON

/// The canonical JSON of a value: object keys sorted by their UTF-8 bytes, no whitespace, numbers as
/// JGJSON writes them. Two calls whose arguments mean the same JSON get the same digest; a call differing
/// by one byte of meaning gets another. An approval hold and the audit record bind to this digest.
public enum CanonicalJSON {
    public static func sorted(_ v: JSONValue) -> JSONValue {
        switch v {
        case let .object(pairs):
            return .object(pairs.map { ($0.0, sorted($0.1)) }.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) })
        case let .array(items): return .array(items.map(sorted))
        default: return v
        }
    }

    public static func text(_ v: JSONValue) -> String { JSONWriter.write(sorted(v)) }

    public static func digest(_ v: JSONValue) -> String { Digest.sha256Hex(text(v)) }
}
