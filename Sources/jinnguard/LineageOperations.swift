import CJGSys
import Glibc
import JGIPC
import JGJSON

/// The supervisor's part in the gate's replay state: it renames compacted journals into place (the gate
/// is unprivileged and holds only a descriptor), and serves `jinnguard agent reset-counter` on a
/// root-only operator socket, `<state>/operator.sock` (mode 0600, and the peer's SO_PEERCRED uid must be 0).
final class LineageOperations {
    var compactTarget: OwnedFD?
    var compactStarted = 0.0
    var lastCompactFailure = -1e9
    var operatorListener: OwnedFD?
    /// Operator connections: their input so far, and whether a request of theirs is waiting for the gate.
    var connections: [Int32: (fd: OwnedFD, input: [UInt8])] = [:]
    var waiting: [UInt64: (fd: Int32, agent: String, uid: UInt32, pid: Int32)] = [:]
    var nextTag: UInt64 = 1

    static func socketPath(stateDir: String) -> String { stateDir + "/operator.sock" }
}

extension Supervisor {
    var compactPath: String { settings.lineageFile + ".compact" }

    // MARK: compaction

    /// The gate said its journal wants compacting: hand it a fresh file to write the snapshot to.
    func startCompaction() {
        let ops = lineageOps
        guard ops.compactTarget == nil, Monotonic.now - ops.lastCompactFailure > 10,
              let gate = children[.gate]?.control, gate.isOpen else { return }
        let fd = open(compactPath, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            Log.warn("cannot create \(compactPath): \(String(cString: strerror(errno)))")
            ops.lastCompactFailure = Monotonic.now
            return
        }
        let target = OwnedFD(adopting: fd)
        guard let forGate = try? target.duplicate() else { ops.lastCompactFailure = Monotonic.now; return }
        ops.compactTarget = target
        ops.compactStarted = Monotonic.now
        var w = LinkWriter(type: ControlRequest.lineageCompact.rawValue)
        w.u32(0)
        gate.sendPassing(w, fd: forGate)
    }

    /// The gate wrote and synced the snapshot (and now writes every line to both files): rename it over
    /// the journal, sync the directory, and from now on hand the new file to every gate started.
    func compacted(ok: Bool, message: String) {
        let ops = lineageOps
        guard let target = ops.compactTarget else { return }
        ops.compactTarget = nil
        var phase: UInt32 = 2
        if ok {
            if rename(compactPath, settings.lineageFile) == 0 {
                syncDirectory(of: settings.lineageFile)
                lineage = target
                phase = 1
            } else {
                Log.warn("cannot rename \(compactPath): \(String(cString: strerror(errno)))")
            }
        } else {
            Log.warn("lineage compaction refused by jg-gate: \(message)")
        }
        if phase == 2 { unlink(compactPath); ops.lastCompactFailure = Monotonic.now }
        if let gate = children[.gate]?.control {
            var w = LinkWriter(type: ControlRequest.lineageCompact.rawValue)
            w.u32(phase)
            gate.send(w)
        }
    }

    /// The gate went away mid-compaction: the old journal is still complete; the new gate gets it.
    func gateLost() {
        guard lineageOps.compactTarget != nil else { return }
        lineageOps.compactTarget = nil
        unlink(compactPath)
    }

    func syncDirectory(of path: String) {
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let d = open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if d >= 0 { fsync(d); close(d) }
    }

    // MARK: operator socket

    func openOperatorSocket() throws {
        let path = LineageOperations.socketPath(stateDir: settings.stateDir)
        let l = try Sockets.listenUnix(path: path, mode: 0o600)
        try? l.setNonBlocking()
        lineageOps.operatorListener = l
        loop.register(l.raw, events: Int16(POLLIN)) { [unowned self] _ in self.acceptOperators() }
    }

    func acceptOperators() {
        guard let l = lineageOps.operatorListener else { return }
        while true {
            let fd = jg_sys_accept_nonblocking(l.raw)
            if fd < 0 { return }
            let owned = OwnedFD(adopting: fd)
            // The socket file is root's and 0600; the peer's uid is checked all the same.
            guard let peer = try? Sockets.peerCredentials(owned), peer.uid == 0 else {
                operatorReply(owned.raw, ok: false, message: "only root may use the operator socket")
                continue
            }
            guard lineageOps.connections.count < 64 else { continue }
            lineageOps.connections[fd] = (owned, [])
            loop.register(fd, events: Int16(POLLIN)) { [unowned self] _ in self.operatorReadable(fd, peer) }
            loop.after(5) { [unowned self] in
                if self.lineageOps.connections[fd] != nil { self.operatorReply(fd, ok: false, message: "no answer within 5 s"); self.closeOperator(fd) }
            }
        }
    }

    func closeOperator(_ fd: Int32) {
        guard let c = lineageOps.connections.removeValue(forKey: fd) else { return }
        loop.unregister(fd)
        c.fd.close()
        for (tag, w) in lineageOps.waiting where w.fd == fd { lineageOps.waiting[tag] = nil }
        keyOps.waiting.removeAll { $0.fd == fd }
    }

    func operatorReadable(_ fd: Int32, _ peer: PeerCredentials) {
        guard var c = lineageOps.connections[fd] else { return }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = read(fd, &buf, buf.count)
        if n <= 0 {
            if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
            closeOperator(fd); return
        }
        c.input += buf[0..<n]
        lineageOps.connections[fd] = c
        guard c.input.count >= Frame.headerSize else { return }
        guard case let .body(len) = Frame.checkHeader(c.input.prefix(Frame.headerSize), maxBody: 4096) else {
            operatorReply(fd, ok: false, message: "bad frame"); closeOperator(fd); return
        }
        guard c.input.count >= Frame.headerSize + len else { return }
        loop.setEvents(fd, 0)
        let body = Array(c.input[Frame.headerSize..<Frame.headerSize + len])
        if let v = try? JSONParser.parse(body), v["command"]?.stringValue == "keys" { keysRequest(fd, v, peer); return }
        guard let v = try? JSONParser.parse(body), v["command"]?.stringValue == "reset-counter",
              let agent = v["agent"]?.stringValue else {
            operatorReply(fd, ok: false, message: "unknown request"); closeOperator(fd); return
        }
        guard policy.agent(agent) != nil else {
            operatorReply(fd, ok: false, message: "agent \(agent) is not in the running policy"); closeOperator(fd); return
        }
        // Audited or not done: without a broker there is no audit record, so no reset.
        guard let b = children[.broker], b.configured, b.control?.isOpen == true,
              let gate = children[.gate]?.control, children[.gate]?.configured == true else {
            operatorReply(fd, ok: false, message: "jg-gate or jg-broker is not running; nothing was changed"); closeOperator(fd); return
        }
        let tag = lineageOps.nextTag
        lineageOps.nextTag += 1
        lineageOps.waiting[tag] = (fd, agent, peer.uid, peer.pid)
        var w = LinkWriter(type: ControlRequest.resetCounter.rawValue)
        w.u64(tag); w.string(agent)
        gate.send(w)
    }

    /// The gate's answer: audited through the broker, then told to the operator.
    func counterReset(tag: UInt64, agent: String, ok: Bool, previous: UInt64, message: String) {
        guard let w = lineageOps.waiting.removeValue(forKey: tag) else { return }
        if ok, let b = children[.broker]?.control {
            var e = LinkWriter(type: ControlRequest.auditEvent.rawValue)
            e.string("CounterReset"); e.string(agent)
            e.string(JSONWriter.write(.object([("previous_counter", .integer(.unsigned(previous))),
                                              ("operator_uid", .integer(.unsigned(UInt64(w.uid)))),
                                              ("operator_pid", .integer(.signed(Int64(w.pid)))),
                                              ("command", .string("jinnguard agent reset-counter"))])))
            b.send(e)
        }
        Log.info("operator reset-counter \(agent): \(message)")
        operatorReply(w.fd, ok: ok, message: message)
        closeOperator(w.fd)
    }

    func operatorReply(_ fd: Int32, ok: Bool, message: String) {
        let body = Array(JSONWriter.write(.object([("ok", .bool(ok)), ("message", .string(message))])).utf8)
        let frame = Frame.encode(body)
        _ = frame.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}
