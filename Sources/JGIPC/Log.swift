import Glibc
import Logging

/// One-line diagnostics on stderr with the component's name; the supervisor passes them through. Written
/// through swift-log (JournalLogHandler): under systemd, with the journal on stderr, each line carries its
/// syslog priority.
public enum Log {
    nonisolated(unsafe) public static var name = "jinnguard"

    public static func info(_ s: String) { emit(.info, s) }
    public static func warn(_ s: String) { emit(.warning, s) }
    public static func error(_ s: String) { emit(.error, s) }

    private static func emit(_ level: Logger.Level, _ s: String) {
        Logger(label: name, factory: { JournalLogHandler(label: $0) }).log(level: level, "\(s)")
    }
}

/// A swift-log handler for stderr: `name: level: message`, prefixed `<N>` (sd-daemon(3) priority) when
/// stderr is the journal stream systemd named in JOURNAL_STREAM.
public struct JournalLogHandler: LogHandler {
    public let label: String
    public var logLevel: Logger.Level = .trace
    public var metadata: Logger.Metadata = [:]
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public init(label: String) { self.label = label }

    nonisolated(unsafe) static var journal: Bool = JournalLogHandler.stderrIsJournal()

    /// JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected; it is ours only when stderr is it.
    static func stderrIsJournal() -> Bool {
        guard let v = getenv("JOURNAL_STREAM") else { return false }
        let parts = String(cString: v).split(separator: ":")
        var st = stat()
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]), fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }

    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .critical: return 2
        case .error: return 3
        case .warning: return 4
        case .notice: return 5
        case .info: return 6
        case .debug, .trace: return 7
        }
    }

    public static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .warning: return "warning"
        default: return level.rawValue
        }
    }

    public static func line(label: String, level: Logger.Level, message: String, journal: Bool) -> String {
        (journal ? "<\(priority(level))>" : "") + "\(label): \(levelName(level)): \(message)\n"
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
                    file: String, function: String, line: UInt) {
        let text = Array(Self.line(label: label, level: level, message: message.description, journal: Self.journal).utf8)
        text.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }
}
