import JGAudit

/// The audit verifier (PROTOCOL.md §8) on a log and its manifests (split at the first NUL byte, which
/// no valid log line holds). Whatever it says, it must not pass a log that is not whole lines.
enum AuditTarget {
    static func run(_ data: [UInt8]) {
        let cut = data.firstIndex(of: 0) ?? data.endIndex
        let log = Array(data[..<cut])
        let manifests = cut < data.endIndex ? Array(data[(cut + 1)...]) : []
        let r = AuditVerifier.verify(log: log, manifests: manifests)
        if r.ok {
            let lines = log.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            if UInt64(lines) != r.entries { violated("ok with \(r.entries) entries for \(lines) lines", data) }
            if let last = log.last, last != 0x0A { violated("ok for a log with a torn tail", data) }
            if let a = r.attestedLastIndex, a >= r.entries { violated("ok although the manifests attest index \(a)", data) }
        }
    }
}
