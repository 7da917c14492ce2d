import Glibc
import JGIPC
import JGJSON

/// Replay, quota, drift and per-agent counters. The last accepted sequence counter of each known agent is
/// appended to the lineage file (one `"<agent id>" <counter>` line per acceptance), so a restarted gate
/// never reopens an old counter; a line with counter 0 is an operator's reset (`jinnguard agent
/// reset-counter`): lines are read in order, the highest counter since the last reset wins. The file is
/// handed over as an open descriptor by the supervisor.
///
/// The journal is kept bounded by compaction (`wantsCompaction`): the supervisor hands over a fresh
/// temporary file, `beginCompaction` writes one line per agent there and syncs it, and from then on
/// every line goes to both files until the supervisor has renamed the temporary file over the journal
/// (`finishCompaction`). A crash at any point leaves a journal that holds every accepted counter.
///
/// `max_sequence_quota` is counted per agent (all its processes and connections together) for the life
/// of the gate, which is how the policy reads.
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
    private var quotaUsed: [String: UInt64] = [:]
    /// `decisions_seen`: decisions of one lineage session (agent, peer pid, process start time), as the
    /// original daemon's lineage registry kept them. Per session, not per agent: a root agent's
    /// `privilege_escalation_depth` (is_root × decisions_seen) grows with what one process does, and a
    /// new process of the agent does not inherit it (per agent, an invariant `privilege_escalation_depth < 3`
    /// denied every later root run of the agent for the life of the gate). Bounded: past `sessionLimit`
    /// sessions the table starts again.
    private var sessions: [String: UInt64] = [:]
    public static let sessionLimit = 65536
    private var file: OwnedFD?
    /// The compaction target while it is being put in place: written together with `file`.
    private var compacting: OwnedFD?
    /// Bytes of the journal as it stands, to decide when to compact.
    public private(set) var journalBytes = 0
    /// A journal is compacted once it is above this and four times what a snapshot would take.
    public var compactThreshold = 64 * 1024
    /// errno of the last failed journal write, nil once a write succeeded again.
    public private(set) var writeError: Int32?
    /// A failed write may have left part of a line: the next write starts with a newline.
    private var partialLine = false

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
        journalBytes = data.count
        partialLine = data.last.map { $0 != UInt8(ascii: "\n") } ?? false
        for line in data.split(separator: UInt8(ascii: "\n")) {
            // `"id" counter`: the id is a JSON string, so any id survives the round trip.
            guard let sp = line.lastIndex(of: UInt8(ascii: " ")),
                  case let .string(id)? = try? JSONParser.parse(line[line.startIndex..<sp]),
                  let seq = UInt64(String(decoding: line[(sp + 1)...], as: UTF8.self)) else { continue }
            // Counters above 2^63−1 are refused as malformed now: one left by an older gate is not honoured.
            if seq > UInt64(Int64.max) { continue }
            if seq == 0 { agents[id, default: AgentState()].lastSequence = 0; continue }
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
            _ = write(line)
        }
    }

    /// Writes the journal lines kept since the last flush (see `deferWrites`). False when they could not
    /// be written: the requests they belong to must not be allowed.
    @discardableResult
    public func flush() -> Bool {
        guard !pendingLines.isEmpty else { return writeError == nil }
        let ok = write(pendingLines)
        pendingLines.removeAll(keepingCapacity: pendingLines.count <= 64 * 1024)
        return ok
    }

    /// An operator's reset: the agent's next counter may be any above 0. Written at once; false (and
    /// nothing changed) when the journal line could not be written.
    public func reset(agent: String) -> (ok: Bool, previous: UInt64) {
        _ = flush()
        var st = agents[agent, default: AgentState()]
        let previous = st.lastSequence
        if file != nil {
            if st.journalPrefix.isEmpty { st.journalPrefix = Array((JSONWriter.quote(agent) + " ").utf8) }
            var line: [UInt8] = []
            append(prefix: st.journalPrefix, sequence: 0, to: &line)
            guard write(line) else { return (false, previous) }
        }
        st.lastSequence = 0
        agents[agent] = st
        return (true, previous)
    }

    // MARK: compaction

    /// One line per agent with a counter: what a compacted journal holds.
    func snapshot() -> [UInt8] {
        var out: [UInt8] = []
        for (id, st) in agents.sorted(by: { $0.key < $1.key }) where st.lastSequence > 0 {
            let prefix = st.journalPrefix.isEmpty ? Array((JSONWriter.quote(id) + " ").utf8) : st.journalPrefix
            append(prefix: prefix, sequence: st.lastSequence, to: &out)
        }
        return out
    }

    public var wantsCompaction: Bool {
        file != nil && compacting == nil && journalBytes > compactThreshold && journalBytes > 4 * agents.count * 40
    }

    /// Writes the snapshot to `target` (empty, opened with O_APPEND) and syncs it; from then on lines go to
    /// both files. False (target dropped) when it could not be written.
    public func beginCompaction(into target: OwnedFD) -> Bool {
        guard file != nil, compacting == nil, flush() else { return false }
        let snap = snapshot()
        guard writeAll(target, snap) == nil, fsync(target.raw) == 0 else { return false }
        compacting = target
        compactedBytes = snap.count
        return true
    }
    private var compactedBytes = 0

    /// The supervisor renamed the target over the journal: it is the journal now.
    public func finishCompaction() {
        guard let c = compacting else { return }
        file = c
        compacting = nil
        journalBytes = compactedBytes
        partialLine = false
    }

    public func abortCompaction() { compacting = nil }

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

    private func write(_ bytes: [UInt8]) -> Bool {
        guard let file else { return true }
        // Page-cache durability survives a crash of any component; the audit record of the same request
        // is what fdatasync makes durable before an ALLOW leaves.
        let data = partialLine ? [UInt8(ascii: "\n")] + bytes : bytes
        if let e = writeAll(file, data) {
            Log.error("lineage journal write failed: errno \(e)")
            writeError = e
            partialLine = true
            return false
        }
        partialLine = false
        writeError = nil
        journalBytes += data.count
        if let c = compacting, writeAll(c, bytes) != nil {
            // The old journal stays complete: the compaction is given up, not the request.
            Log.warn("lineage compaction target write failed: compaction abandoned")
            compacting = nil
        } else if compacting != nil {
            compactedBytes += bytes.count
        }
        return true
    }

    /// errno of a failed write, nil when all was written.
    private func writeAll(_ fd: OwnedFD, _ bytes: [UInt8]) -> Int32? {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { p in Glibc.write(fd.raw, p.baseAddress.map { $0 + off }, p.count - off) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return errno }
            if n == 0 { return ENOSPC }
            off += n
        }
        return nil
    }

    /// Step 13: counts one decision of the agent, over all its processes; false once `quota` were used
    /// (0 = unlimited).
    public func takeQuota(agent: String, quota: UInt64) -> Bool {
        let used = quotaUsed[agent, default: 0]
        if quota > 0 && used >= quota { return false }
        quotaUsed[agent] = used + 1
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

    /// Counts one decision of the lineage session `key`; returns the session's count including it.
    public func countSessionDecision(_ key: String) -> UInt64 {
        if sessions[key] == nil && sessions.count >= Self.sessionLimit { sessions.removeAll(keepingCapacity: true) }
        let n = sessions[key, default: 0] + 1
        sessions[key] = n
        return n
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
