import Glibc
import JGIPC
import JGJSON

/// Replay, quota, drift and per-agent counters. The last accepted sequence counter of each known agent is
/// appended to the lineage file (one `"<agent id>" <counter>` line per acceptance), so a restarted gate
/// never reopens an old counter. The file is handed over as an open descriptor by the supervisor.
public final class LineageStore {
    struct AgentState {
        var lastSequence: UInt64 = 0
        var decisionsSeen: UInt64 = 0
        var maxAssessedRisk = 0.0
        var meanRisk = 0.0
        var samples = 0
        /// The id as a JSON string plus a space: the start of each of its journal lines, quoted once.
        var journalPrefix: [UInt8] = []
    }

    /// Journal lines are kept here and written by `flush()` instead of one write(2) per acceptance. The
    /// owner must flush before anything about the accepted requests leaves the process (a reply, a link
    /// message): a crash before that loses only counters of requests nobody heard of.
    public var deferWrites = false
    private var pendingLines: [UInt8] = []

    private var agents: [String: AgentState] = [:]
    private var sessions: [String: UInt64] = [:]
    private let file: OwnedFD?

    /// Reads the journal from `file` (may be nil: memory only, used by tests).
    public init(file: OwnedFD?) {
        self.file = file
        guard let file else { return }
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        _ = lseek(file.raw, 0, SEEK_SET)
        while true {
            let n = read(file.raw, &buf, buf.count)
            if n <= 0 { break }
            data.append(contentsOf: buf[0..<n])
        }
        for line in data.split(separator: UInt8(ascii: "\n")) {
            // `"id" counter`: the id is a JSON string, so any id survives the round trip.
            guard let sp = line.lastIndex(of: UInt8(ascii: " ")),
                  case let .string(id)? = try? JSONParser.parse(line[line.startIndex..<sp]),
                  let seq = UInt64(String(decoding: line[(sp + 1)...], as: UTF8.self)) else { continue }
            if seq > agents[id, default: AgentState()].lastSequence { agents[id, default: AgentState()].lastSequence = seq }
        }
    }

    public func lastSequence(_ agent: String) -> UInt64 { agents[agent]?.lastSequence ?? 0 }

    /// Step 8. Accepts and records `seq` when it is strictly above the last accepted one.
    public func accept(agent: String, sequence seq: UInt64) -> Bool {
        var st = agents[agent, default: AgentState()]
        guard seq != 0, seq > st.lastSequence else { return false }
        st.lastSequence = seq
        if file != nil && st.journalPrefix.isEmpty { st.journalPrefix = Array((JSONWriter.quote(agent) + " ").utf8) }
        agents[agent] = st
        persist(prefix: st.journalPrefix, sequence: seq)
        return true
    }

    private func persist(prefix: [UInt8], sequence: UInt64) {
        guard file != nil else { return }
        if deferWrites {
            append(prefix: prefix, sequence: sequence, to: &pendingLines)
        } else {
            var line: [UInt8] = []
            append(prefix: prefix, sequence: sequence, to: &line)
            write(line)
        }
    }

    /// Writes the journal lines kept since the last flush (see `deferWrites`).
    public func flush() {
        guard !pendingLines.isEmpty else { return }
        write(pendingLines)
        pendingLines.removeAll(keepingCapacity: pendingLines.count <= 64 * 1024)
    }

    private func append(prefix: [UInt8], sequence: UInt64, to line: inout [UInt8]) {
        line.reserveCapacity(line.count + prefix.count + 21)
        line.append(contentsOf: prefix)
        // The counter in decimal, as `"\(sequence)"` writes it, without an intermediate string.
        let start = line.count
        var v = sequence
        repeat { line.append(UInt8(ascii: "0") + UInt8(v % 10)); v /= 10 } while v > 0
        line[start...].reverse()
        line.append(UInt8(ascii: "\n"))
    }

    private func write(_ bytes: [UInt8]) {
        guard let file else { return }
        // Page-cache durability survives a crash of any component; the audit record of the same request
        // is what fdatasync makes durable before an ALLOW leaves.
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { p in Glibc.write(file.raw, p.baseAddress.map { $0 + off }, p.count - off) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { Log.error("lineage file write failed: errno \(errno)"); return }
            off += n
        }
    }

    /// Step 13: counts one decision of the lineage session; false once `quota` were used (0 = unlimited).
    public func takeQuota(session: String, quota: UInt64) -> Bool {
        let used = sessions[session, default: 0]
        if quota > 0 && used >= quota { return false }
        if sessions.count > 200_000 { sessions.removeAll(keepingCapacity: true) }
        sessions[session] = used + 1
        return true
    }

    public struct Counters: Sendable {
        public var decisionsSeen: UInt64
        public var maxAssessedRisk: Double
        public var meanRisk: Double
        public var samples: Int
    }

    public func counters(_ agent: String) -> Counters {
        let st = agents[agent] ?? AgentState()
        return Counters(decisionsSeen: st.decisionsSeen, maxAssessedRisk: st.maxAssessedRisk, meanRisk: st.meanRisk, samples: st.samples)
    }

    /// Records one assessed decision of the agent (after the drift check).
    public func record(agent: String, fusedRisk: Double) {
        var st = agents[agent, default: AgentState()]
        st.decisionsSeen += 1
        st.maxAssessedRisk = max(st.maxAssessedRisk, fusedRisk)
        st.meanRisk = st.samples == 0 ? fusedRisk : st.meanRisk * 0.8 + fusedRisk * 0.2
        st.samples += 1
        agents[agent] = st
    }
}
