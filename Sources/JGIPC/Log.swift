import Glibc

/// One-line diagnostics on stderr with the component's name; the supervisor passes them through. Under
/// systemd, with stderr being the journal stream, each line carries its syslog priority (JournalLine).
/// The supervisor routes its own lines through swift-log (`sink`, jinnguard's JournalLogHandler); the
/// components write directly and link no logging package (they load no _StringProcessing).
public enum Log {
    // `name`, `sink` and `journal` are set once at start-up, before any second thread exists; then only read.
    nonisolated(unsafe) public static var name = "jinnguard"
    /// When set, every line goes here instead of straight to stderr.
    nonisolated(unsafe) public static var sink: ((JournalLine.Level, String) -> Void)?

    public static func info(_ s: String) { emit(.info, s) }
    public static func warn(_ s: String) { emit(.warning, s) }
    public static func error(_ s: String) { emit(.error, s) }

    private static func emit(_ level: JournalLine.Level, _ s: String) {
        if let sink { sink(level, s); return }
        JournalLine.write(JournalLine.line(label: name, level: level, message: s, journal: JournalLine.journal))
    }
}

/// `name: level: message`, prefixed `<N>` (sd-daemon(3) priority) when stderr is the journal stream systemd
/// named in JOURNAL_STREAM.
public enum JournalLine {
    public enum Level: Sendable {
        case debug, info, notice, warning, error, critical

        public var priority: Int {
            switch self {
            case .critical: return 2
            case .error: return 3
            case .warning: return 4
            case .notice: return 5
            case .info: return 6
            case .debug: return 7
            }
        }

        public var name: String {
            switch self {
            case .debug: return "debug"
            case .info: return "info"
            case .notice: return "notice"
            case .warning: return "warning"
            case .error: return "error"
            case .critical: return "critical"
            }
        }
    }

    nonisolated(unsafe) public static var journal: Bool = stderrIsJournal()

    /// JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected; it is ours only when stderr is it.
    public static func stderrIsJournal() -> Bool {
        guard let v = getenv("JOURNAL_STREAM") else { return false }
        let parts = String(cString: v).split(separator: ":")
        var st = stat()
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]), fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }

    public static func line(label: String, level: Level, message: String, journal: Bool) -> String {
        (journal ? "<\(level.priority)>" : "") + "\(label): \(level.name): \(message)\n"
    }

    public static func write(_ line: String) { StandardError.write(line) }
}
