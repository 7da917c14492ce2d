import JGAudit
import JGCrypto
import JGIPC

/// A client connection as the gate knows it: its descriptor and a generation that is never reused. The
/// kernel hands the same descriptor number to the next client as soon as one closes; the generation keeps
/// a reply meant for the first from ever reaching the second.
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let fd: Int32
    public let generation: UInt64

    public var description: String { "fd \(fd)#\(generation)" }
}

/// What the audit record of one decision needs: the verdict, its reason, and the context without the
/// action's bulk (contents are kept as their digest and length, see `DecisionContext.digestedContents`).
public struct AuditRecord: Sendable {
    public var token: Token
    public var reason: String
    public private(set) var context: DecisionContext
    /// Approximate bytes held for it: what the count and byte bounds of the table are measured in.
    public let footprint: Int

    /// Contents longer than this are held as their digest.
    public static let inlineContentsLimit = 512

    public init(token: Token, reason: String, context: DecisionContext) {
        self.token = token
        self.reason = reason
        self.context = AuditRecord.compact(context)
        footprint = AuditRecord.measure(self.context) + reason.utf8.count
    }

    /// The id the record is sent to the broker under (and appears with in the chain).
    public mutating func setRequestID(_ id: UInt64) { context.requestID = id }

    public static func compact(_ ctx: DecisionContext) -> DecisionContext {
        var c = ctx
        if var a = c.action, let contents = a.contents, contents.utf8.count > inlineContentsLimit {
            c.digestedContents = DigestedContents(actionDigest: a.auditDigest, contentsDigest: Digest.sha256Hex(contents),
                                                  contentsLength: contents.utf8.count)
            a.contents = nil
            c.action = a
        }
        return c
    }

    static func measure(_ c: DecisionContext) -> Int {
        var n = 512 + c.agentID.utf8.count + c.lineage.utf8.count + (c.intent?.utf8.count ?? 0) + c.payloadDigest.utf8.count
        n += c.signals.reduce(0) { $0 + $1.utf8.count + 16 }
        n += (c.contextVars.count + c.authoritative.count) * 48 + c.contextVars.reduce(0) { $0 + $1.0.utf8.count }
        if let a = c.action {
            n += a.kind.utf8.count + (a.command?.utf8.count ?? 0) + (a.path?.utf8.count ?? 0) + (a.contents?.utf8.count ?? 0)
            n += (a.url?.utf8.count ?? 0) + (a.method?.utf8.count ?? 0)
        }
        if c.digestedContents != nil { n += 160 }
        return n
    }
}

/// An immutable value held by reference: a request's context moves between states, and is looked up on
/// every link message, without its dozen strings being retained and released each time.
public final class Held<Value: Sendable>: Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}

/// Where one request is. Exactly one of these per request id, and nothing about a request lives outside it.
public enum RequestState: Sendable {
    /// With the prover, which must say it handed the request on by `proverDeadline`. The (compact)
    /// context is kept so that a failed hand-off is still audited.
    case proving(Held<DecisionContext>, proverDeadline: Double)
    /// With the broker: its reply answers the client (and, for an execution, carries the result).
    case deciding(Held<DecisionContext>)
    /// A denial the gate made, its record with the broker (`sent`) or waiting for a broker that is ready;
    /// the broker's reply confirms it durable. Never dropped before that.
    case auditing(Held<AuditRecord>, sent: Bool)
}

public struct Request: Sendable {
    /// The client waiting for the answer; nil once it hung up or was answered (its reply is then dropped).
    public var client: ConnectionID?
    /// CLOCK_MONOTONIC seconds until which the client waits for the broker's reply.
    public var replyDeadline: Double
    public var state: RequestState
}

/// What to do with a reply of the broker.
public enum ReplyRouting: Sendable {
    /// No such request (already answered and confirmed): dropped.
    case unknown
    /// Answer this client with the reply (nil: the client is gone; the reply is dropped).
    case deliver(ConnectionID?)
    /// The broker could not record the gate's denial: the record stays held for a resend; the client (if
    /// still waiting) is answered with the gate's own token.
    case recordNotDurable(ConnectionID?, Token)
    /// The broker answered a decision DENY_AUDIT_UNAVAILABLE: nothing of it may be in the chain, so the
    /// gate holds a record of what the client is told. The request is taken out.
    case decisionNotRecorded(ConnectionID?, DecisionContext)
    /// An ALLOW or CONSTRAIN for a request the gate denied itself: the link is broken.
    case allowForDenial
}

/// The gate's one table of connections and requests in flight (PROTOCOL.md §5 steps 3 on). A request is
/// keyed by its id; the client waiting for it by a ConnectionID that is never reused. Audit records are
/// bounded in count and bytes: past either bound the gate refuses new requests at once.
public struct RequestTable<Client> {
    public let maxRecords: Int
    public let maxRecordBytes: Int
    private var clients: [ConnectionID: Client] = [:]
    /// The connection that holds each descriptor number now.
    private var byFD: [Int32: ConnectionID] = [:]
    private var requests: [UInt64: Request] = [:]
    /// The request each connection waits for (a connection has at most one in flight).
    private var waiting: [ConnectionID: UInt64] = [:]
    private var nextGeneration: UInt64 = 0
    public private(set) var recordCount = 0
    public private(set) var recordBytes = 0

    public init(maxRecords: Int = 8192, maxRecordBytes: Int = 16 << 20) {
        self.maxRecords = maxRecords
        self.maxRecordBytes = maxRecordBytes
    }

    // MARK: connections

    public mutating func connect(fd: Int32, _ client: Client) -> ConnectionID {
        nextGeneration &+= 1
        let id = ConnectionID(fd: fd, generation: nextGeneration)
        clients[id] = client
        byFD[fd] = id
        return id
    }

    /// The live connection on descriptor `fd` (for the admission caps, which count descriptors).
    public func connection(fd: Int32) -> ConnectionID? { byFD[fd] }

    public func client(_ id: ConnectionID) -> Client? { clients[id] }

    public var clientCount: Int { clients.count }

    public var connections: [ConnectionID] { Array(clients.keys) }

    /// The connection is gone: a request it waits for goes on (the broker still decides and records it);
    /// only its reply is dropped.
    @discardableResult
    public mutating func disconnect(_ id: ConnectionID) -> Client? {
        if let rid = waiting.removeValue(forKey: id) { requests[rid]?.client = nil }
        if byFD[id.fd] == id { byFD[id.fd] = nil }
        return clients.removeValue(forKey: id)
    }

    /// The request this connection waits for, if any.
    public func request(for id: ConnectionID) -> UInt64? { waiting[id] }

    // MARK: requests

    public func state(_ id: UInt64) -> Request? { requests[id] }

    public var requestCount: Int { requests.count }

    /// False when held audit records reached a bound: new requests are refused until the broker
    /// confirms some.
    public var admitsRecords: Bool { recordCount < maxRecords && recordBytes < maxRecordBytes }

    /// A request handed to the prover for `client`.
    public mutating func forwarded(_ id: UInt64, client: ConnectionID, context: DecisionContext, proverDeadline: Double, replyDeadline: Double) {
        insert(id, Request(client: client, replyDeadline: replyDeadline, state: .proving(Held(AuditRecord.compact(context)), proverDeadline: proverDeadline)))
    }

    /// A denial the gate made. With a client, the client waits for the broker's confirmation (until
    /// `replyDeadline`); without, it was answered already and only the record waits.
    public mutating func denied(_ id: UInt64, client: ConnectionID?, record: AuditRecord, replyDeadline: Double) {
        insert(id, Request(client: client, replyDeadline: replyDeadline, state: .auditing(Held(record), sent: false)))
    }

    private mutating func insert(_ id: UInt64, _ r: Request) {
        if let old = requests[id] { forget(id, old) }
        requests[id] = r
        if let c = r.client {
            if let prev = waiting[c], prev != id { requests[prev]?.client = nil }
            waiting[c] = id
        }
        if case let .auditing(rec, _) = r.state { recordCount += 1; recordBytes += rec.value.footprint }
    }

    private mutating func forget(_ id: UInt64, _ r: Request) {
        if let c = r.client, waiting[c] == id { waiting[c] = nil }
        if case let .auditing(rec, _) = r.state { recordCount -= 1; recordBytes -= rec.value.footprint }
    }

    @discardableResult
    private mutating func remove(_ id: UInt64) -> Request? {
        guard let r = requests.removeValue(forKey: id) else { return nil }
        forget(id, r)
        return r
    }

    /// Detaches the waiting client (it is being answered now) and returns it.
    private mutating func detach(_ id: UInt64) -> ConnectionID? {
        guard let c = requests[id]?.client else { return nil }
        requests[id]?.client = nil
        if waiting[c] == id { waiting[c] = nil }
        return c
    }

    /// The prover handed the request to the broker: its clock stops, the broker's runs.
    public mutating func proverHandedOn(_ id: UInt64) {
        guard case let .proving(ctx, _)? = requests[id]?.state else { return }
        requests[id]?.state = .deciding(ctx)
    }

    /// The broker's reply for `id`, with its token.
    public mutating func brokerReplied(_ id: UInt64, token: String) -> ReplyRouting {
        guard let r = requests[id] else { return .unknown }
        switch r.state {
        case let .auditing(rec, _):
            if token == "ALLOW" || token == "CONSTRAIN" { return .allowForDenial }
            if token == Token.auditUnavailable.rawValue {
                requests[id]?.state = .auditing(rec, sent: false)
                return .recordNotDurable(detach(id), rec.value.token)
            }
            return .deliver(remove(id)?.client)
        case let .proving(ctx, _), let .deciding(ctx):
            remove(id)
            if token == Token.auditUnavailable.rawValue { return .decisionNotRecorded(r.client, ctx.value) }
            return .deliver(r.client)
        }
    }

    /// The request ends without the broker's reply (prover abort or timeout, broker lost, deadline): it is
    /// taken out, and its client (to answer now) and context (to audit what the client is told) returned.
    /// A denial still waiting for its confirmation stays held; its client is returned with the gate's token.
    public mutating func end(_ id: UInt64) -> (client: ConnectionID?, context: DecisionContext?, held: Token?) {
        guard let r = requests[id] else { return (nil, nil, nil) }
        switch r.state {
        case let .proving(ctx, _), let .deciding(ctx):
            remove(id)
            return (r.client, ctx.value, nil)
        case let .auditing(rec, _):
            return (detach(id), nil, rec.value.token)
        }
    }

    /// Requests the broker may never answer now that it is gone.
    public var idsInFlight: [UInt64] { requests.keys.sorted() }

    /// Records not (or no longer) with a ready broker, oldest first.
    public var unsentRecords: [(UInt64, AuditRecord)] {
        requests.compactMap { id, r -> (UInt64, AuditRecord)? in
            if case let .auditing(rec, false) = r.state { return (id, rec.value) }
            return nil
        }.sorted { $0.0 < $1.0 }
    }

    public mutating func markSent(_ id: UInt64) {
        guard case let .auditing(rec, _)? = requests[id]?.state else { return }
        requests[id]?.state = .auditing(rec, sent: true)
    }

    /// Everything sent to a broker that is gone must be sent again to the next one.
    public mutating func markAllUnsent() {
        for (id, r) in requests {
            if case let .auditing(rec, true) = r.state { requests[id]?.state = .auditing(rec, sent: false) }
        }
    }

    /// Requests past the prover's deadline (still with the prover).
    public func proverExpired(now: Double) -> [UInt64] {
        requests.compactMap { id, r -> UInt64? in
            if case let .proving(_, pd) = r.state, now > pd { return id }
            return nil
        }.sorted()
    }

    /// Requests whose client waited past its reply deadline (and forwarded requests past it with no
    /// client left, which must still be audited).
    public func replyExpired(now: Double) -> [UInt64] {
        requests.compactMap { id, r -> UInt64? in
            guard now > r.replyDeadline else { return nil }
            if case .auditing = r.state, r.client == nil { return nil }
            return id
        }.sorted()
    }
}
