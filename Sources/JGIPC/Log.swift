import Glibc

/// One-line diagnostics on stderr with the component's name; the supervisor passes them through.
public enum Log {
    nonisolated(unsafe) public static var name = "jinnguard"

    public static func info(_ s: String) { emit("info", s) }
    public static func warn(_ s: String) { emit("warning", s) }
    public static func error(_ s: String) { emit("error", s) }

    private static func emit(_ level: String, _ s: String) {
        let line = Array("\(name): \(level): \(s)\n".utf8)
        line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }
}
