import Glibc
import CJGSys
import JGCrypto
import JGGateCore
import JGIPC
import JGJSON
import JGPolicy

/// One agent connection: header, body, then waiting for the broker's reply; many requests in sequence.
final class ClientConnection {
    enum State {
        case header, body(Int)
        /// The body is complete; the peer's observation is awaited from the supervisor (until `deadline`).
        case observing([UInt8], deadline: Double)
        case waiting(UInt64), closing
    }
    let conn: StreamConnection
    let peer: PeerCredentials
    /// Observed once per connection: the peer process behind a socket does not change.
    var observation: PeerObservation?
    /// The agent whose cgroup the peer runs in, read at accept while the connecting process is alive.
    var runtime: RuntimeIdentity?
    /// The connector was gone before the accept (PeerObservation.runtimeUnknown).
    var runtimeUnknown = false
    var state = State.header
    var deadline: Double
    /// When the connection was accepted, in start-time ticks: the peer process started before it.
    let acceptedAt = PeerObservation.bootTicks()

    init(conn: StreamConnection, peer: PeerCredentials, deadline: Double) {
        self.conn = conn
        self.peer = peer
        self.deadline = deadline
    }
}

final class GateServer {
    static let idleLimit = 5.0
    /// Longest wait for the supervisor's observation of a peer; past it the peer counts as unobservable.
    static let observeLimit = 1.0
    /// Held audit records not confirmed are sent again this often while a broker is ready.
    static let resendInterval = 2.0
    /// Set when the prover missed a deadline and has not shown progress since: the supervisor restarts it.
    var proverStalled = false
    /// When the current prover link came: a request that expires within the prover limit of it was sent to
    /// the previous prover (restarted meanwhile), so it says nothing about this one.
    var proverLinkedAt = 0.0
    /// Bytes one read may take while a header is awaited: the header and a typical request body.
    static let headerReadLimit = 4096

    let loop: EventLoop
    let listener: OwnedFD
    let lineage: LineageStore
    let control: ControlChannel
    var decider: GateDecider?
    /// Every connection and every request in flight, and every audit record not yet confirmed durable
    /// (bounded: 8192 records and 16 MiB; JINNGUARD_GATE_HELD_RECORDS lowers the count, for tests).
    var table = RequestTable<ClientConnection>(
        maxRecords: getenv("JINNGUARD_GATE_HELD_RECORDS").flatMap { Int(String(cString: $0)) }.map { max(1, min($0, 8192)) } ?? 8192)
    /// Per-uid and total connection caps (GateAdmission.swift); main sets the configured limits.
    var admission = Admission(limits: .init())
    var prover: LinkEndpoint?
    var broker: LinkEndpoint?
    /// The broker said it is configured with its audit log open: records and requests go to it only then.
    var brokerReady = false
    var kernel: LinkEndpoint?
    var observations = PeerObservationCache()
    /// Connections waiting for the supervisor's observation of their peer.
    var observers: [PeerKey: [ConnectionID]] = [:]
    var lastResend = 0.0
    var nextRequestID: UInt64
    var stats = GateStats()
    var statsDirty = true
    /// Accepting agent connections (startServing).
    var serving = false
    /// The latest `statsNow` nonce, echoed in every status report since.
    var statsNonce: UInt64 = 0

    init(loop: EventLoop, listener: OwnedFD, lineage: LineageStore, control: ControlChannel) {
        self.loop = loop
        self.listener = listener
        self.lineage = lineage
        self.control = control
        // Request ids only need to be unique per gate life; the pid keeps them apart across restarts.
        nextRequestID = UInt64(getpid()) << 32
        try? listener.setNonBlocking()
        // The listener is registered by startServing, once the supervisor says every component is ready.
        // One journal write per loop iteration instead of one per accepted request. It must reach the file
        // before anything about those requests leaves: the prover and broker links flush it before each of
        // their writes, `reply` before answering an agent, and every iteration ends with it.
        lineage.deferWrites = true
        loop.onIteration = { [unowned self] in
            self.releaseForwards()
            self.lineage.flush()
            if self.lineage.wantsCompaction && !self.compactionAnnounced { self.compactionAnnounced = true; self.statsDirty = true }
            if !self.lineage.wantsCompaction { self.compactionAnnounced = false }
        }
        sweep()
        publishStats()
    }

    // MARK: configuration and links

    func configure(policy canonical: String, settings: String) -> (Bool, String) {
        let policy: Policy
        do { policy = try CanonicalPolicy.decode(canonical) } catch { return (false, error.description) }
        guard let keys = GateSettings.keys(from: settings) else { return (false, "bad key settings") }
        if let d = decider {
            d.policy = policy
            d.policyDigest = policy.digest
            d.keys = keys
        } else {
            decider = GateDecider(policy: policy, keys: keys, lineage: lineage)
        }
        return (true, "policy \(policy.digest.prefix(12)) with \(policy.agents.count) agents")
    }

    func link(_ peer: Component, _ fd: OwnedFD) {
        let ep: LinkEndpoint
        do { ep = try LinkEndpoint(peer: peer, fd: fd, loop: loop) } catch { Log.error("link \(peer): \(error)"); return }
        ep.beforeWrite = { [unowned self] in self.lineage.flush() }
        ep.onBreak = { [unowned self] in self.control.linkBroken(peer) }
        switch peer {
        case .prover:
            prover?.close()
            prover = ep
            proverStalled = false
            proverLinkedAt = Monotonic.now
            ep.onMessage = { [unowned self] r throws(LinkProtocolError) in try self.fromProver(&r) }
            ep.onClose = { [unowned self, unowned ep] in if self.prover === ep { self.prover = nil; self.statsDirty = true } }
        case .broker:
            if let old = broker { broker = nil; old.close(); brokerLost() }
            broker = ep
            // Until it says ready (configured, audit log open) a new broker would refuse the records: they
            // are held and sent then.
            brokerReady = false
            ep.onMessage = { [unowned self] r throws(LinkProtocolError) in try self.fromBroker(&r) }
            ep.onClose = { [unowned self, unowned ep] in if self.broker === ep { self.brokerLost() } }
        case .kernel:
            kernel?.close()
            kernel = ep
            ep.onMessage = { [unowned self] r throws(LinkProtocolError) in
                if KernelToGate(rawValue: r.type) == .canaryTripwire {
                    guard let agent = r.string(), let pid = r.u32(), let path = r.string(), r.atEnd else {
                        throw LinkProtocolError(link: "kernel→gate", reason: "malformed canaryTripwire")
                    }
                    self.canaryTripwire(agent: agent, pid: pid, path: path)
                    return
                }
                guard KernelToGate(rawValue: r.type) == .denial, let agent = r.string(), let kind = r.string(), r.string() != nil, r.atEnd else {
                    throw LinkProtocolError(link: "kernel→gate", reason: "unexpected or malformed message \(r.type)")
                }
                // Only denials of known agents count; the kernel attributes them by governed cgroup.
                if self.decider?.policy.agent(agent) != nil {
                    self.decider?.recordKernelDenial(agent: agent, now: Monotonic.now)
                    Log.info("kernel denied \(kind) for agent \(agent): its observed risk is raised")
                }
            }
        default:
            Log.warn("no link expected with \(peer.rawValue)")
            return
        }
        statsDirty = true
    }

    func brokerLost() {
        broker = nil
        brokerReady = false
        statsDirty = true
        // Whatever the lost broker had not confirmed goes to the next one; only the broker sends replies, so
        // every request still waiting for one is answered now.
        table.markAllUnsent()
        for id in table.idsInFlight { endRequest(id, .componentUnavailable, "broker lost before replying") }
    }

    /// Agent events (GateControl.swift) waiting for a ready broker.
    var pendingAgentEvents: [LinkWriter] = []
    /// The status report has said the journal wants compacting (sent again only after it changed).
    var compactionAnnounced = false

    // MARK: link messages

    func fromProver(_ r: inout LinkReader) throws(LinkProtocolError) {
        if ProverToGate(rawValue: r.type) == .forwarded {
            guard let id = r.u64(), r.atEnd else { throw LinkProtocolError(link: "prover→gate", reason: "malformed forwarded") }
            if proverStalled { proverStalled = false; statsDirty = true }
            table.proverHandedOn(id)
            return
        }
        guard ProverToGate(rawValue: r.type) == .abort, let id = r.u64(), let token = r.string(), let reason = r.string(), r.atEnd,
              token.hasPrefix("DENY_") else {
            throw LinkProtocolError(link: "prover→gate", reason: "unexpected message \(r.type)")
        }
        endRequest(id, Token(rawValue: token) ?? .componentUnavailable, reason)
    }

    func fromBroker(_ r: inout LinkReader) throws(LinkProtocolError) {
        if BrokerToGate(rawValue: r.type) == .ready {
            guard r.atEnd else { throw LinkProtocolError(link: "broker→gate", reason: "malformed ready") }
            brokerReady = true
            statsDirty = true
            resendHeld()
            for w in pendingAgentEvents { broker?.send(w) }
            pendingAgentEvents.removeAll()
            return
        }
        guard BrokerToGate(rawValue: r.type) == .reply, let id = r.u64(), let token = r.string(), let body = r.data(), r.atEnd else {
            throw LinkProtocolError(link: "broker→gate", reason: "unexpected message \(r.type)")
        }
        switch table.brokerReplied(id, token: token) {
        case .unknown:
            return
        case .allowForDenial:
            // An ALLOW can only come from a request this gate forwarded, never from an audit-only record.
            throw LinkProtocolError(link: "broker→gate", reason: "ALLOW for a request the gate denied")
        case let .deliver(client):
            answer(client, token: token, body: body, keepOpen: token == "ALLOW" || token == "CONSTRAIN")
        case let .recordNotDurable(client, own):
            // Kept for the next attempt; the client hears the gate's own verdict.
            answer(client, token: own.rawValue, body: own.replyBody, keepOpen: false)
        case let .decisionNotRecorded(client, ctx):
            hold(AuditRecord(token: .auditUnavailable, reason: "jg-broker could not record the decision", context: ctx))
            answer(client, token: token, body: body, keepOpen: false)
        }
    }

    /// Ends a request the broker did not answer: the client (if still there) gets `token`, and the chain
    /// gets a record of exactly that.
    func endRequest(_ id: UInt64, _ token: Token, _ reason: String) {
        let (client, ctx, held) = table.end(id)
        if let ctx {
            hold(AuditRecord(token: token, reason: reason, context: ctx))
            answer(client, token: token.rawValue, body: token.replyBody, keepOpen: false)
        } else if let held, client != nil {
            answer(client, token: held.rawValue, body: held.replyBody, keepOpen: false)
        }
    }

    /// A record with nobody waiting for it, under an id of its own: a late reply of the broker for the
    /// original request can never be taken for its confirmation.
    func hold(_ record: AuditRecord) {
        let id = newID()
        var rec = record
        rec.setRequestID(id)
        table.denied(id, client: nil, record: rec, replyDeadline: 0)
        sendAudit(id, rec)
    }

    func sendAudit(_ id: UInt64, _ a: AuditRecord) {
        guard let broker, brokerReady else { return }
        var w = LinkWriter(type: GateToBroker.auditDenied.rawValue)
        w.u64(id); w.string(a.token.rawValue); w.string(a.reason)
        a.context.encode(into: &w)
        if broker.send(w) { table.markSent(id) }
    }

    func resendHeld() {
        lastResend = Monotonic.now
        for (id, rec) in table.unsentRecords { sendAudit(id, rec) }
    }

    // MARK: peer observation

    /// The supervisor's answer to `observePeer`. False breaks the control link.
    func peerObserved(_ r: inout LinkReader) -> Bool {
        guard r.u64() != nil, let pid = r.i64(), let start = r.u64(), let exe = r.optString(), let ns = r.optString(),
              let other = r.bool(), r.atEnd else { return false }
        let key = PeerKey(pid: Int32(truncatingIfNeeded: pid), startTime: start)
        let view = PeerView(executable: exe, pidNamespace: ns, inOtherPidNamespace: other)
        observations.store(key, view, now: Monotonic.now)
        for cid in observers.removeValue(forKey: key) ?? [] {
            guard let c = table.client(cid), case let .observing(body, _) = c.state else { continue }
            c.observation = PeerObservation.from(c.peer, startTime: start, view: view)
            decide(c, cid, body)
        }
        return true
    }

    /// Decides once the peer is observed: from the cache, or asked of the supervisor (the gate cannot read
    /// another uid's /proc/PID/exe or ns/pid). A peer whose start time cannot be read has exited: nothing
    /// is left to observe, and that counts; so does one whose pid was reused since.
    func observeThenDecide(_ c: ClientConnection, _ cid: ConnectionID, _ body: [UInt8]) {
        if c.observation != nil { decide(c, cid, body); return }
        let now = Monotonic.now
        // No start time: the peer exited. A start time after the accept: its pid now names another process.
        guard c.peer.pid > 0, let start = PeerObservation.startTime(c.peer.pid), start <= c.acceptedAt + 1 else {
            c.observation = PeerObservation.from(c.peer, startTime: 0, view: .unreadable)
            decide(c, cid, body)
            return
        }
        let key = PeerKey(pid: c.peer.pid, startTime: start)
        if let view = observations.lookup(key, now: now) {
            c.observation = PeerObservation.from(c.peer, startTime: start, view: view)
            decide(c, cid, body)
            return
        }
        c.state = .observing(body, deadline: now + Self.observeLimit)
        loop.setEvents(cid.fd, 0)
        observers[key, default: []].append(cid)
        if observations.shouldAsk(key, now: now, retryAfter: Self.observeLimit) {
            var w = LinkWriter(type: ControlReport.observePeer.rawValue)
            w.u64(cid.generation); w.i64(Int64(key.pid)); w.u64(start)
            control.send(w)
        }
    }

    // MARK: clients

    func acceptAll() {
        // Bounded per iteration: a uid reconnecting as fast as it is refused must not keep the loop here.
        for _ in 0..<Self.acceptBurst {
            let fd = jg_sys_accept_nonblocking(listener.raw)
            if fd < 0 { return }
            let owned = OwnedFD(adopting: fd)
            guard let peer = try? Sockets.peerCredentials(owned), admit(fd, peer) else { continue } // closes: a clean close
            let conn = StreamConnection(nonBlocking: owned) // accept4 made it non-blocking
            let c = ClientConnection(conn: conn, peer: peer, deadline: Monotonic.now + Self.idleLimit)
            // Kept only when the pid, read after the cgroup, still names a process started before the accept
            // (a pid reused meanwhile names a newer one).
            // A connector already gone (or its pid reused) cannot be placed: its socket may have been handed
            // on inside a locked runtime, so the connection is refused rather than taken for an outsider's.
            if RuntimeIdentity.instance != nil, peer.pid > 0 {
                let rt = RuntimeIdentity.read(pid: peer.pid)
                if let start = PeerObservation.startTime(peer.pid), start <= c.acceptedAt + 1 { c.runtime = rt } else { c.runtimeUnknown = true }
            }
            let cid = table.connect(fd: fd, c)
            loop.register(fd, events: Int16(POLLIN)) { [unowned self] ev in self.clientEvent(cid, ev) }
        }
    }

    func closeClient(_ cid: ConnectionID) {
        // A request it waits for goes on and is recorded; only its reply is dropped.
        guard let c = table.disconnect(cid) else { return }
        admission.release(fd: cid.fd)
        loop.unregister(cid.fd)
        c.conn.fd.close()
    }

    func clientEvent(_ cid: ConnectionID, _ ev: Int16) {
        guard let c = table.client(cid) else { return }
        if ev & Int16(POLLOUT) != 0 {
            if !c.conn.flush() { closeClient(cid); return }
            if !c.conn.hasPendingOutput {
                if case .closing = c.state { closeClient(cid); return }
                loop.setEvents(cid.fd, Int16(POLLIN))
            }
        }
        guard ev & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0 else { return }
        switch c.state {
        case .waiting, .observing:
            // A request is being decided; further input waits. A hang-up only drops the connection.
            if ev & (Int16(POLLHUP) | Int16(POLLERR)) != 0 { closeClient(cid) }
            return
        case .closing: return
        case .header, .body: break
        }
        while true {
            // A header read also takes what follows it up to `headerReadLimit`, so that a typical request
            // arrives with one read; after that, never more than the rest of the body being read. The
            // header is still checked (version, size cap) before anything is reserved for its body.
            let limit: Int
            switch c.state {
            case .body(let n): limit = n
            default: limit = Self.headerReadLimit
            }
            let before = c.conn.bufferedCount
            switch c.conn.readAvailable(limit: limit) {
            case .data:
                if !process(c, cid) { return }
                switch c.state {
                case .waiting, .closing, .observing: return
                default: break
                }
                if c.conn.bufferedCount == before && before >= limit { return }
            case .wouldBlock: return
            case .eof, .failed: closeClient(cid); return
            }
        }
    }

    /// Advances the frame state machine. Returns false when the connection was closed.
    func process(_ c: ClientConnection, _ cid: ConnectionID) -> Bool {
        while true {
            switch c.state {
            case .header:
                guard let h = c.conn.peek(Frame.headerSize) else { return true }
                switch Frame.checkHeader(h) {
                case .badVersion:
                    countProposal()
                    reject(c, cid, .badVersion); return false
                case .tooLarge:
                    countProposal()
                    reject(c, cid, .payloadTooLarge); return false
                case let .body(n):
                    c.conn.discard(Frame.headerSize)
                    c.state = .body(n)
                    c.deadline = Monotonic.now + Self.idleLimit
                }
            case let .body(n):
                guard c.conn.bufferedCount >= n else { return true }
                let body = c.conn.consume(n)
                countProposal()
                // Held audit records at their bound: nothing more is decided (and so nothing more needs a
                // record) until the broker confirms some.
                guard table.admitsRecords else { reject(c, cid, .auditUnavailable); return false }
                observeThenDecide(c, cid, body)
                return table.client(cid) != nil
            case .waiting, .closing, .observing:
                return true
            }
        }
    }

    func reject(_ c: ClientConnection, _ cid: ConnectionID, _ token: Token) {
        countDecision(token.rawValue)
        reply(c, cid, body: token.replyBody, keepOpen: false)
    }

    func decide(_ c: ClientConnection, _ cid: ConnectionID, _ body: [UInt8]) {
        guard let decider else {
            var ctx = DecisionContext()
            ctx.peer = c.peer
            queueDenial(c, cid, AuditRecord(token: .componentUnavailable, reason: "gate has no policy yet", context: ctx))
            return
        }
        let now = UInt64(time(nil))
        var obs = c.observation ?? PeerObservation.from(c.peer, startTime: 0, view: .unreadable)
        obs.runtime = c.runtime
        obs.runtimeUnknown = c.runtimeUnknown
        switch decider.evaluate(body: body, peer: c.peer, now: now, observe: { _ in obs }) {
        case let .reject(token):
            reject(c, cid, token)
        case let .deny(token, reason, ctx):
            queueDenial(c, cid, AuditRecord(token: token, reason: reason, context: ctx))
        case let .forward(ctx):
            let id = newID()
            var ctx = ctx
            ctx.requestID = id
            guard prover != nil, broker != nil, brokerReady else {
                let why = prover == nil ? "jg-prover is not linked" : broker == nil ? "jg-broker is not linked" : "jg-broker is not ready"
                queueDenial(c, cid, AuditRecord(token: .componentUnavailable, reason: why, context: ctx))
                return
            }
            let t = Monotonic.now
            ctx.proverDeadline = t + ReplyDeadline.proverLimit
            // An execution may run as long as the agent's tool limits allow: the reply is awaited that long.
            ctx.replyDeadline = t + ReplyDeadline.seconds(for: ctx, limits: decider.policy.agent(ctx.agentID)?.toolLimits)
            var w = LinkWriter(type: GateToProver.check.rawValue)
            ctx.encode(into: &w)
            c.state = .waiting(id)
            // The broker answers by replyDeadline; the gate's own answer comes only after it.
            table.forwarded(id, client: cid, context: ctx, proverDeadline: ctx.proverDeadline + 0.05, replyDeadline: ctx.replyDeadline + 0.25)
            loop.setEvents(cid.fd, 0)
            pendingForwards.append((id, w))
            if pendingForwards.count >= Self.forwardSlice { releaseForwards() }
        }
    }

    /// Forwards decided but not yet sent: their accepted counters go to the journal in one write, and only
    /// then do they go on. Released every `forwardSlice` requests (so the prover starts on the first while
    /// the gate reads the rest) and at the end of every loop iteration.
    var pendingForwards: [(UInt64, LinkWriter)] = []
    /// strace, 64 clients, 20,000 requests: 18,758 journal writes with one per request.
    static let forwardSlice = 4

    func releaseForwards() {
        guard !pendingForwards.isEmpty else { return }
        let batch = pendingForwards
        pendingForwards.removeAll(keepingCapacity: true)
        // The accepted counters must be in the journal before the requests go on: if they cannot be
        // written, a restart could reopen them, so the requests are denied (and audited).
        guard lineage.flush() else {
            let reason = "lineage journal write failed: errno \(lineage.writeError ?? 0)"
            for (id, _) in batch { denyUnsent(id, .auditUnavailable, reason) }
            return
        }
        for (id, w) in batch where !(prover?.send(w) ?? false) {
            denyUnsent(id, .componentUnavailable, "jg-prover link failed")
        }
    }

    /// A forward that never left the gate: denied by the gate itself, its client (if still there) waiting
    /// for the record to be confirmed as for any other denial of the gate.
    func denyUnsent(_ id: UInt64, _ token: Token, _ reason: String) {
        let (client, ctx, _) = table.end(id)
        guard let ctx else { return }
        let record = AuditRecord(token: token, reason: reason, context: ctx)
        if let cid = client, let c = table.client(cid) { queueDenial(c, cid, record) } else { hold(record) }
    }

    /// A denial the gate made: the broker records it and then sends the reply; without a ready broker the
    /// agent is answered at once and the record waits for one.
    func queueDenial(_ c: ClientConnection, _ cid: ConnectionID, _ record: AuditRecord) {
        let id = newID()
        var rec = record
        rec.setRequestID(id)
        if broker != nil && brokerReady {
            c.state = .waiting(id)
            table.denied(id, client: cid, record: rec, replyDeadline: Monotonic.now + ReplyDeadline.decisionLimit)
            sendAudit(id, rec)
            loop.setEvents(cid.fd, 0)
        } else {
            table.denied(id, client: nil, record: rec, replyDeadline: 0)
            countDecision(rec.token.rawValue)
            reply(c, cid, body: rec.token.replyBody, keepOpen: false)
        }
    }

    /// Answers the client that asked, if it is still there; a reply for a connection that is gone is dropped
    /// (its descriptor number may already belong to another client).
    func answer(_ cid: ConnectionID?, token: String, body: [UInt8], keepOpen: Bool) {
        countDecision(token)
        guard let cid, let c = table.client(cid) else { return }
        reply(c, cid, body: body, keepOpen: keepOpen)
    }

    func reply(_ c: ClientConnection, _ cid: ConnectionID, body: [UInt8], keepOpen: Bool) {
        lineage.flush()
        // One send of header and body together: clients read the header with a single recv(5).
        guard c.conn.send(Frame.encode(body)) else { closeClient(cid); return }
        if keepOpen {
            c.state = .header
            c.deadline = Monotonic.now + Self.idleLimit
            loop.setEvents(cid.fd, Int16(POLLIN) | (c.conn.hasPendingOutput ? Int16(POLLOUT) : 0))
            // The next frame may already be buffered.
            if c.conn.bufferedCount > 0 { _ = process(c, cid) }
        } else if c.conn.hasPendingOutput {
            c.state = .closing
            loop.setEvents(cid.fd, Int16(POLLOUT))
        } else {
            closeClient(cid)
        }
    }

    func newID() -> UInt64 {
        nextRequestID &+= 1
        return nextRequestID
    }

    /// Closes idle or stalled connections, decides requests whose peer observation did not come, and
    /// answers requests whose reply never came.
    func sweep() {
        let now = Monotonic.now
        for cid in table.connections {
            guard let c = table.client(cid) else { continue }
            switch c.state {
            case .header, .body, .closing:
                if now > c.deadline { closeClient(cid) }
            case let .observing(body, deadline):
                guard now > deadline else { continue }
                // Not observed in time: counted as unobservable, never trusted more for it.
                c.observation = PeerObservation.from(c.peer, startTime: PeerObservation.startTime(c.peer.pid) ?? 0, view: .unreadable)
                decide(c, cid, body)
            case .waiting: break
            }
        }
        observers = observers.compactMapValues { ids in
            let left = ids.filter { id in
                if let c = table.client(id), case .observing = c.state { return true }
                return false
            }
            return left.isEmpty ? nil : left
        }
        for id in table.proverExpired(now: now) {
            if !proverStalled && now - proverLinkedAt > ReplyDeadline.proverLimit { proverStalled = true; statsDirty = true }
            endRequest(id, .proverTimeout, "jg-prover did not decide within \(ReplyDeadline.proverLimit) s")
        }
        for id in table.replyExpired(now: now) {
            endRequest(id, .componentUnavailable, "no reply from jg-broker by the request's reply deadline")
        }
        if brokerReady && now - lastResend >= Self.resendInterval { resendHeld() }
        loop.after(0.25) { [unowned self] in self.sweep() }
    }

    // MARK: statistics for /metrics and /healthz

    func countProposal() { stats.proposals += 1; statsDirty = true }

    func countDecision(_ token: String) {
        statsDirty = true
        switch token {
        case "ALLOW": stats.allow += 1
        case "CONSTRAIN": stats.constrain += 1
        default:
            stats.deny += 1
            stats.denials[token, default: 0] += 1
        }
    }

    /// Accepting starts when the supervisor says all components are configured and linked (`serve`);
    /// connections made before wait in the listen backlog. Later outages are answered
    /// DENY_COMPONENT_UNAVAILABLE as before: a gate that serves never stops accepting.
    func startServing() {
        guard !serving else { return }
        serving = true
        statsDirty = true
        loop.register(listener.raw, events: Int16(POLLIN)) { [unowned self] _ in self.acceptAll() }
        acceptAll()
    }

    /// The counters as they stand: every decision counted was counted before its reply was written, so a
    /// scrape that follows a received reply sees it.
    func publishStatsNow(nonce: UInt64) {
        statsNonce = max(statsNonce, nonce)
        statsDirty = true
        publishStats(reschedule: false)
    }

    func publishStats(reschedule: Bool = true) {
        if statsDirty {
            statsDirty = false
            control.reportStatus(stats.json(proverLinked: prover != nil, brokerLinked: broker != nil && brokerReady, proverStalled: proverStalled,
                                            clients: table.clientCount, unconfirmed: table.recordCount,
                                            lineageCompactWanted: lineage.wantsCompaction, serving: serving, statsNonce: statsNonce))
        }
        if reschedule { loop.after(0.2) { [unowned self] in self.publishStats() } }
    }
}

struct GateStats {
    var proposals: UInt64 = 0
    var allow: UInt64 = 0
    var constrain: UInt64 = 0
    var deny: UInt64 = 0
    var denials: [String: UInt64] = [:]

    func json(proverLinked: Bool, brokerLinked: Bool, proverStalled: Bool, clients: Int, unconfirmed: Int,
              lineageCompactWanted: Bool = false, serving: Bool = true, statsNonce: UInt64 = 0) -> String {
        let d = denials.sorted { $0.key < $1.key }.map { (k, v) in (k, JSONValue.integer(.unsigned(v))) }
        return JSONWriter.write(.object([
            ("proposals", .integer(.unsigned(proposals))), ("allow", .integer(.unsigned(allow))),
            ("constrain", .integer(.unsigned(constrain))), ("deny", .integer(.unsigned(deny))),
            ("denials", .object(d)), ("prover_linked", .bool(proverLinked)), ("broker_linked", .bool(brokerLinked)), ("prover_stalled", .bool(proverStalled)),
            ("clients", .integer(.signed(Int64(clients)))), ("unconfirmed_audits", .integer(.signed(Int64(unconfirmed)))),
            ("lineage_compact_wanted", .bool(lineageCompactWanted)), ("serving", .bool(serving)),
            ("stats_nonce", .integer(.unsigned(statsNonce))),
        ]))
    }
}

/// Settings the supervisor sends the gate: the HMAC keys, as hex.
enum GateSettings {
    static func keys(from settings: String) -> KeySet? {
        guard let v = try? JSONParser.parse(settings) else { return nil }
        func forms(_ v: JSONValue?) -> [[UInt8]]? {
            guard case let .array(items)? = v else { return nil }
            var out: [[UInt8]] = []
            for i in items {
                guard case let .string(h) = i, let b = Digest.unhex(h) else { return nil }
                out.append(b)
            }
            return out
        }
        guard var current = forms(v["current"]), var previous = forms(v["previous"]),
              case let .integer(until)? = v["previous_valid_until"], let u = until.uint64,
              case let .object(agents)? = v["agents"] else { return nil }
        var agentKeys: [String: [[UInt8]]] = [:]
        for (id, a) in agents {
            guard let f = forms(a) else { return nil }
            agentKeys[id] = f
        }
        let set = KeySet(current: current, previous: previous, previousValidUntil: u, agentKeys: agentKeys)
        // The parsed copies go; only the key set's locked arena keeps the keys.
        var all = current + previous + agentKeys.values.flatMap { $0 }
        (current, previous, agentKeys) = ([], [], [:])
        for i in all.indices { SecretBytes.wipe(&all[i]) }
        return set
    }
}
