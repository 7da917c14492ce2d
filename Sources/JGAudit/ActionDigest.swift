import JGCrypto
import JGIPC
import JGJSON

extension ProposedAction {
    /// The action as the chain names it (`action_digest`): SHA-256 of its canonical JSON. One definition,
    /// because the gate computes it ahead for the records it holds without the action's contents.
    public var auditDigest: String {
        let v: JSONValue = .object([
            ("kind", .string(kind)), ("command", command.map { .string($0) } ?? .null),
            ("path", path.map { .string($0) } ?? .null), ("contents", contents.map { .string($0) } ?? .null),
            ("url", url.map { .string($0) } ?? .null), ("method", method.map { .string($0) } ?? .null),
        ])
        return Digest.sha256Hex(JSONWriter.write(v))
    }
}
