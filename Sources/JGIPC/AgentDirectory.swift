/// The directory of an agent's files is `<root>/<name>`, where the name is the agent id itself when it is
/// a safe file name (`isPlainName`) and a digest of it otherwise (`name(_:)`, in JGCrypto: the sandbox
/// builder, linked by every component, checks names but need not load libcrypto for it).
public enum AgentDirectory {
    public static func isPlainName(_ id: String) -> Bool {
        !id.isEmpty && id != "." && id != ".." && id.utf8.count <= 128
            && id.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0)) }
    }
}
