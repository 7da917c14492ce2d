import JGIPC
import Logging

/// swift-log for the supervisor (`jinnguard run`, `jinnguard rendezvous`): JGIPC.Log's lines go through a
/// Logger whose handler writes them as JournalLine does — with `<N>` priorities when stderr is the journal.
struct JournalLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static func level(_ l: Logger.Level) -> JournalLine.Level {
        switch l {
        case .trace, .debug: return .debug
        case .info: return .info
        case .notice: return .notice
        case .warning: return .warning
        case .error: return .error
        case .critical: return .critical
        }
    }

    func log(event: LogEvent) {
        JournalLine.write(JournalLine.line(label: label, level: Self.level(event.level), message: event.message.description,
                                           journal: JournalLine.journal))
    }

    /// Routes JGIPC.Log through swift-log for this process.
    static func install(label: String) {
        let logger = Logger(label: label, factory: { JournalLogHandler(label: $0) })
        Log.sink = { level, text in
            switch level {
            case .debug: logger.debug("\(text)")
            case .info: logger.info("\(text)")
            case .notice: logger.notice("\(text)")
            case .warning: logger.warning("\(text)")
            case .error: logger.error("\(text)")
            case .critical: logger.critical("\(text)")
            }
        }
    }
}
