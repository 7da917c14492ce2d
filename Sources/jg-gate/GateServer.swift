import Glibc
import CJGSys
import JGCrypto
import JGGateCore
import JGIPC
import JGJSON
import JGPolicy

/// One agent connection: header, body, then waiting for the broker's reply; many requests in sequence.
final class ClientConnection {
    enum State { case header, body(Int), waiting(UInt64), closing }
    let conn: StreamConnection
    let peer: PeerCredentials
    /// Observed once per connection: the peer process behind a socket does not change.
    lazy var observation = PeerObservation.observe(peer)
    var state = State.header
    var deadline: Double

    init(conn: StreamConnection, peer: PeerCredentials, deadline: Double) {
        self.conn = conn
        self.peer = peer
        self.deadline = deadline
    }
}

/// An audit record the broker has not yet confirmed durable; resent after the broker is re-linked.
struct PendingAudit {
    var token: Token
    var reason: String
    var context: DecisionContext
}

/// A request handed to the prover or the broker, waiting for the broker's reply.
struct PendingRequest {
    var fd: Int32
    var deadline: Double
    /// Until the prover says it handed the request on.
    var proverDeadline: Double?
    var execute = false
    /// The token to answer with if no reply comes (denials the gate made itself).
    var fallback: Token
}

final class GateServer {
    static let idleLimit = 5.0
    /// Longest wait for the broker's reply before the gate answers a DENY itself. A request that asks
    /// for an execution waits longer than the broker's own tool time limit (10 s), so an action that ran
    /// is never reported to the agent as refused.
    static let replyLimit = 3.0
    static let executionReplyLimit = 20.0
    /// The prover's share: a decision not handed on within this is answered DENY_PROVER_TIMEOUT.
    static let proverLimit = 2.0
    /// Set when the prover missed a deadline and has not shown progress since: the supervisor restarts it.
    var proverStalled = false
    static let maxClients = 16384
    /// Bytes one read may take while a header is awaited: the header and a typical request body.
    static let headerReadLimit = 4096

    let loop: EventLoop
    let listener: OwnedFD
    let lineage: LineageStore
    let control: ControlChannel
    var decider: GateDecider?
    var clients: [Int32: ClientConnection] = [:]
    /// Per-uid and total connection caps (GateAdmission.swift); main sets the configured limits.
    var admission = Admission(limits: .init())
    var prover: LinkEndpoint?
    var broker: LinkEndpoint?
    var kernel: LinkEndpoint?
    var pending: [UInt64: PendingRequest] = [:]
    var unconfirmedAudits: [UInt64: PendingAudit] = [:]
    var nextRequestID: UInt64
    var stats = GateStats()
    var statsDirty = true

    init(loop: EventLoop, listener: OwnedFD, lineage: LineageStore, control: ControlChannel) {
        self.loop = loop
        self.listener = listener
        self.lineage = lineage
        self.control = control
        // Request ids only need to be unique per gate life; the pid keeps them apart across restarts.
        nextRequestID = UInt64(getpid()) << 32
        try? listener.setNonBlocking()
        loop.register(listener.raw, events: Int16(POLLIN)) { [unowned self] _ in self.acceptAll() }
        // One journal write per loop iteration instead of one per accepted request. It must reach the file
        // before anything about those requests leaves: the prover and broker links flush it before each of
        // their writes, `reply` before answering an agent, and every iteration ends with it.
        lineage.deferWrites = true
        loop.onIteration = { [unowned self] in
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
            ep.onMessage = { [unowned self] r throws(LinkProtocolError) in try self.fromProver(&r) }
            ep.onClose = { [unowned self, unowned ep] in if self.prover === ep { self.prover = nil; self.statsDirty = true } }
        case .broker:
            broker?.close()
            broker = ep
            ep.onMessage = { [unowned self] r throws(LinkProtocolError) in try self.fromBroker(&r) }
            ep.onClose = { [unowned self, unowned ep] in if self.broker === ep { self.brokerLost() } }
            // Records the previous broker never confirmed are sent again: a duplicate beats a loss.
            for (id, a) in unconfirmedAudits.sorted(by: { $0.key < $1.key }) { sendAudit(id, a) }
            for w in pendingAgentEvents { ep.send(w) }
            pendingAgentEvents.removeAll()
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
        statsDirty = true
        // Only the broker sends replies: every request still waiting for one is answered now.
        for (id, p) in pending {
            pending[id] = nil
            let token = unconfirmedAudits[id]?.token ?? .componentUnavailable
            if unconfirmedAudits[id] == nil, let ctx = contexts.removeValue(forKey: id) {
                unconfirmedAudits[id] = PendingAudit(token: .componentUnavailable, reason: "broker lost before replying", context: ctx)
            }
            answer(fd: p.fd, token: token.rawValue, body: token.replyBody, keepOpen: false)
        }
    }

    /// Contexts of forwarded requests, kept so that a failed hand-off can still be audited.
    var contexts: [UInt64: DecisionContext] = [:]
    /// Agent events (GateControl.swift) waiting for a broker link.
    var pendingAgentEvents: [LinkWriter] = []
    /// The status report has said the journal wants compacting (sent again only after it changed).
    var compactionAnnounced = false

    // MARK: link messages

    func fromProver(_ r: inout LinkReader) throws(LinkProtocolError) {
        if ProverToGate(rawValue: r.type) == .forwarded {
            guard let id = r.u64(), r.atEnd else { throw LinkProtocolError(link: "prover→gate", reason: "malformed forwarded") }
            if proverStalled { proverStalled = false; statsDirty = true }
            if var p = pending[id], p.proverDeadline != nil {
                p.proverDeadline = nil
                p.deadline = Monotonic.now + (p.execute ? Self.executionReplyLimit : Self.replyLimit)
                pending[id] = p
            }
            return
        }
        guard ProverToGate(rawValue: r.type) == .abort, let id = r.u64(), let token = r.string(), let reason = r.string(), r.atEnd,
              token.hasPrefix("DENY_") else {
            throw LinkProtocolError(link: "prover→gate", reason: "unexpected message \(r.type)")
        }
        guard let p = pending.removeValue(forKey: id) else { return }
        let t = Token(rawValue: token) ?? .componentUnavailable
        if let ctx = contexts.removeValue(forKey: id) {
            let a = PendingAudit(token: t, reason: reason, context: ctx)
            unconfirmedAudits[id] = a
            sendAudit(id, a)
        }
        answer(fd: p.fd, token: token, body: Reply.body(token: token), keepOpen: false)
    }

    func fromBroker(_ r: inout LinkReader) throws(LinkProtocolError) {
        guard BrokerToGate(rawValue: r.type) == .reply, let id = r.u64(), let token = r.string(), let body = r.data(), r.atEnd else {
            throw LinkProtocolError(link: "broker→gate", reason: "unexpected message \(r.type)")
        }
        unconfirmedAudits[id] = nil
        contexts[id] = nil
        guard let p = pending.removeValue(forKey: id) else { return }
        // An ALLOW can only come from a request this gate forwarded, never from an audit-only record.
        let allowed = token == "ALLOW" || token == "CONSTRAIN"
        if allowed && p.fallback != .componentUnavailable {
            throw LinkProtocolError(link: "broker→gate", reason: "ALLOW for a request the gate denied")
        }
        answer(fd: p.fd, token: token, body: body, keepOpen: allowed)
    }

    func sendAudit(_ id: UInt64, _ a: PendingAudit) {
        guard let broker else { return }
        var w = LinkWriter(type: GateToBroker.auditDenied.rawValue)
        w.u64(id); w.string(a.token.rawValue); w.string(a.reason)
        a.context.encode(into: &w)
        broker.send(w)
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
            clients[fd] = c
            loop.register(fd, events: Int16(POLLIN)) { [unowned self] ev in self.clientEvent(fd, ev) }
        }
    }

    func closeClient(_ fd: Int32) {
        admission.release(fd: fd)
        guard let c = clients.removeValue(forKey: fd) else { return }
        loop.unregister(fd)
        c.conn.fd.close()
    }

    func clientEvent(_ fd: Int32, _ ev: Int16) {
        guard let c = clients[fd] else { return }
        if ev & Int16(POLLOUT) != 0 {
            if !c.conn.flush() { closeClient(fd); return }
            if !c.conn.hasPendingOutput {
                if case .closing = c.state { closeClient(fd); return }
                loop.setEvents(fd, Int16(POLLIN))
            }
        }
        guard ev & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0 else { return }
        if case .waiting = c.state {
            // A request is being decided; further input waits. A hang-up only drops the connection.
            if ev & (Int16(POLLHUP) | Int16(POLLERR)) != 0 { closeClient(fd) }
            return
        }
        if case .closing = c.state { return }
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
                if !process(c, fd) { return }
                switch c.state {
                case .waiting, .closing: return
                default: break
                }
                if c.conn.bufferedCount == before && before >= limit { return }
            case .wouldBlock: return
            case .eof, .failed: closeClient(fd); return
            }
        }
    }

    /// Advances the frame state machine. Returns false when the connection was closed.
    func process(_ c: ClientConnection, _ fd: Int32) -> Bool {
        while true {
            switch c.state {
            case .header:
                guard let h = c.conn.peek(Frame.headerSize) else { return true }
                switch Frame.checkHeader(h) {
                case .badVersion:
                    countProposal()
                    reject(c, fd, .badVersion); return false
                case .tooLarge:
                    countProposal()
                    reject(c, fd, .payloadTooLarge); return false
                case let .body(n):
                    c.conn.discard(Frame.headerSize)
                    c.state = .body(n)
                    c.deadline = Monotonic.now + Self.idleLimit
                }
            case let .body(n):
                guard c.conn.bufferedCount >= n else { return true }
                let body = c.conn.consume(n)
                countProposal()
                decide(c, fd, body)
                return clients[fd] != nil
            case .waiting, .closing:
                return true
            }
        }
    }

    func reject(_ c: ClientConnection, _ fd: Int32, _ token: Token) {
        countDecision(token.rawValue)
        reply(c, fd, body: token.replyBody, keepOpen: false)
    }

    func decide(_ c: ClientConnection, _ fd: Int32, _ body: [UInt8]) {
        guard let decider else {
            let id = newID()
            var ctx = DecisionContext()
            ctx.peer = c.peer
            queueDenial(c, fd, id, PendingAudit(token: .componentUnavailable, reason: "gate has no policy yet", context: ctx))
            return
        }
        let now = UInt64(time(nil))
        switch decider.evaluate(body: body, peer: c.peer, now: now, observe: { _ in c.observation }) {
        case let .reject(token):
            reject(c, fd, token)
        case let .deny(token, reason, ctx):
            let id = newID()
            var ctx = ctx
            ctx.requestID = id
            queueDenial(c, fd, id, PendingAudit(token: token, reason: reason, context: ctx))
        case let .forward(ctx):
            let id = newID()
            var ctx = ctx
            ctx.requestID = id
            // The accepted counter must be in the journal before the request goes on: if it cannot be
            // written, a restart could reopen the counter, so the request is denied (and audited).
            guard lineage.flush() else {
                queueDenial(c, fd, id, PendingAudit(token: .auditUnavailable,
                                                    reason: "lineage journal write failed: errno \(lineage.writeError ?? 0)", context: ctx))
                return
            }
            guard let prover, broker != nil else {
                let who = prover == nil ? "jg-prover" : "jg-broker"
                queueDenial(c, fd, id, PendingAudit(token: .componentUnavailable, reason: "\(who) is not linked", context: ctx))
                return
            }
            ctx.proverDeadline = Monotonic.now + Self.proverLimit
            var w = LinkWriter(type: GateToProver.check.rawValue)
            ctx.encode(into: &w)
            contexts[id] = ctx
            if prover.send(w) {
                c.state = .waiting(id)
                let execute = ctx.execute && ctx.action != nil
                pending[id] = PendingRequest(fd: fd, deadline: Monotonic.now + (execute ? Self.executionReplyLimit : Self.replyLimit),
                                             proverDeadline: ctx.proverDeadline + 0.05, execute: execute, fallback: .componentUnavailable)
                loop.setEvents(fd, 0)
            } else {
                contexts[id] = nil
                queueDenial(c, fd, id, PendingAudit(token: .componentUnavailable, reason: "jg-prover link failed", context: ctx))
            }
        }
    }

    /// A denial the gate made: the broker records it and then sends the reply; without a broker the
    /// agent is answered at once and the record waits for the broker's return.
    func queueDenial(_ c: ClientConnection, _ fd: Int32, _ id: UInt64, _ a: PendingAudit) {
        unconfirmedAudits[id] = a
        if broker != nil {
            sendAudit(id, a)
            c.state = .waiting(id)
            pending[id] = PendingRequest(fd: fd, deadline: Monotonic.now + Self.replyLimit, proverDeadline: nil, fallback: a.token)
            loop.setEvents(fd, 0)
        } else {
            countDecision(a.token.rawValue)
            reply(c, fd, body: a.token.replyBody, keepOpen: false)
        }
    }

    func answer(fd: Int32, token: String, body: [UInt8], keepOpen: Bool) {
        countDecision(token)
        guard let c = clients[fd] else { return }
        reply(c, fd, body: body, keepOpen: keepOpen)
    }

    func reply(_ c: ClientConnection, _ fd: Int32, body: [UInt8], keepOpen: Bool) {
        lineage.flush()
        // One send of header and body together: clients read the header with a single recv(5).
        guard c.conn.send(Frame.encode(body)) else { closeClient(fd); return }
        if keepOpen {
            c.state = .header
            c.deadline = Monotonic.now + Self.idleLimit
            loop.setEvents(fd, Int16(POLLIN) | (c.conn.hasPendingOutput ? Int16(POLLOUT) : 0))
            // The next frame may already be buffered.
            if c.conn.bufferedCount > 0 { _ = process(c, fd) }
        } else if c.conn.hasPendingOutput {
            c.state = .closing
            loop.setEvents(fd, Int16(POLLOUT))
        } else {
            closeClient(fd)
        }
    }

    func newID() -> UInt64 {
        nextRequestID &+= 1
        return nextRequestID
    }

    /// Closes idle or stalled connections and answers requests whose reply never came.
    func sweep() {
        let now = Monotonic.now
        for (fd, c) in clients {
            switch c.state {
            case .header, .body, .closing:
                if now > c.deadline { closeClient(fd) }
            case .waiting: break
            }
        }
        for (id, p) in pending {
            guard let pd = p.proverDeadline, now > pd else { continue }
            pending[id] = nil
            if !proverStalled { proverStalled = true; statsDirty = true }
            if let ctx = contexts.removeValue(forKey: id) {
                let a = PendingAudit(token: .proverTimeout, reason: "jg-prover did not decide within \(Self.proverLimit) s", context: ctx)
                unconfirmedAudits[id] = a
                sendAudit(id, a)
            }
            answer(fd: p.fd, token: Token.proverTimeout.rawValue, body: Token.proverTimeout.replyBody, keepOpen: false)
        }
        for (id, p) in pending where now > p.deadline {
            pending[id] = nil
            if unconfirmedAudits[id] == nil, let ctx = contexts.removeValue(forKey: id) {
                unconfirmedAudits[id] = PendingAudit(token: .componentUnavailable, reason: "no reply within \(Self.replyLimit) s", context: ctx)
                sendAudit(id, unconfirmedAudits[id]!)
            }
            answer(fd: p.fd, token: p.fallback.rawValue, body: p.fallback.replyBody, keepOpen: false)
        }
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

    func publishStats() {
        if statsDirty {
            statsDirty = false
            control.reportStatus(stats.json(proverLinked: prover != nil, brokerLinked: broker != nil, proverStalled: proverStalled,
                                            clients: clients.count, unconfirmed: unconfirmedAudits.count,
                                            lineageCompactWanted: lineage.wantsCompaction))
        }
        loop.after(0.2) { [unowned self] in self.publishStats() }
    }
}

struct GateStats {
    var proposals: UInt64 = 0
    var allow: UInt64 = 0
    var constrain: UInt64 = 0
    var deny: UInt64 = 0
    var denials: [String: UInt64] = [:]

    func json(proverLinked: Bool, brokerLinked: Bool, proverStalled: Bool, clients: Int, unconfirmed: Int,
              lineageCompactWanted: Bool = false) -> String {
        let d = denials.sorted { $0.key < $1.key }.map { (k, v) in (k, JSONValue.integer(.unsigned(v))) }
        return JSONWriter.write(.object([
            ("proposals", .integer(.unsigned(proposals))), ("allow", .integer(.unsigned(allow))),
            ("constrain", .integer(.unsigned(constrain))), ("deny", .integer(.unsigned(deny))),
            ("denials", .object(d)), ("prover_linked", .bool(proverLinked)), ("broker_linked", .bool(brokerLinked)), ("prover_stalled", .bool(proverStalled)),
            ("clients", .integer(.signed(Int64(clients)))), ("unconfirmed_audits", .integer(.signed(Int64(unconfirmed)))),
            ("lineage_compact_wanted", .bool(lineageCompactWanted)),
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
