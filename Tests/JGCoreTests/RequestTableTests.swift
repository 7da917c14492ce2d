import Glibc
import JGAudit
import JGCrypto
import JGGateCore
import JGIPC
import JGPolicy
import Testing

@Suite struct RequestTableTests {
    func context(_ id: UInt64, contents: String? = nil) -> DecisionContext {
        var c = DecisionContext()
        c.requestID = id
        c.agentID = "a"
        if let contents { c.action = ProposedAction(kind: "file_write", path: "x", contents: contents) }
        return c
    }

    func delivered(_ r: ReplyRouting) -> ConnectionID?? {
        if case let .deliver(c) = r { return .some(c) }
        return nil
    }

    /// The hole of issue 10: a client hangs up mid-request, the next client gets the same descriptor
    /// number, and the reply must not reach it.
    @Test func replyForAClientThatHungUpReachesNoOneElse() {
        var t = RequestTable<String>()
        let first = t.connect(fd: 7, "first")
        t.forwarded(1, client: first, context: context(1), proverDeadline: 2, replyDeadline: 10)
        t.disconnect(first)
        let second = t.connect(fd: 7, "second")
        #expect(first != second)
        #expect(t.client(first) == nil && t.client(second) == "second")
        let r = t.brokerReplied(1, token: "ALLOW")
        #expect(delivered(r) == .some(nil), "the reply is dropped, not routed by descriptor number")
        #expect(t.request(for: second) == nil)
    }

    @Test func generationsAreNeverReused() {
        var t = RequestTable<Int>()
        var seen = Set<ConnectionID>()
        for i in 0..<1000 {
            let id = t.connect(fd: 5, i)
            #expect(seen.insert(id).inserted)
            t.disconnect(id)
        }
    }

    @Test func replyReachesTheClientThatAsked() {
        var t = RequestTable<String>()
        let c = t.connect(fd: 9, "c")
        t.forwarded(4, client: c, context: context(4), proverDeadline: 2, replyDeadline: 10)
        t.proverHandedOn(4)
        guard case .deciding = t.state(4)?.state else { Issue.record("not deciding"); return }
        let r1 = t.brokerReplied(4, token: "ALLOW")
        #expect(delivered(r1) == .some(c))
        #expect(t.requestCount == 0)
        let r2 = t.brokerReplied(4, token: "ALLOW")
        #expect(delivered(r2) == nil, "a second reply for the same id finds nothing")
    }

    /// A hang-up drops the reply, never the record: a denial the gate made is kept until the broker
    /// confirms it, whoever is still connected.
    @Test func hangUpKeepsTheAuditRecord() {
        var t = RequestTable<String>()
        let c = t.connect(fd: 3, "c")
        t.denied(2, client: c, record: AuditRecord(token: .quotaExhausted, reason: "q", context: context(2)), replyDeadline: 5)
        t.disconnect(c)
        #expect(t.recordCount == 1)
        #expect(t.unsentRecords.map { $0.0 } == [2])
        t.markSent(2)
        #expect(t.unsentRecords.isEmpty)
        let r = t.brokerReplied(2, token: "DENY_QUOTA_EXHAUSTED")
        #expect(delivered(r) == .some(nil))
        #expect(t.recordCount == 0 && t.recordBytes == 0)
    }

    @Test func recordsAreResentAfterTheBrokerIsLost() {
        var t = RequestTable<String>()
        t.denied(1, client: nil, record: AuditRecord(token: .componentUnavailable, reason: "r", context: context(1)), replyDeadline: 0)
        t.markSent(1)
        t.markAllUnsent()
        #expect(t.unsentRecords.map { $0.0 } == [1])
    }

    @Test func aRecordTheBrokerCouldNotWriteStaysHeld() {
        var t = RequestTable<String>()
        let c = t.connect(fd: 3, "c")
        t.denied(1, client: c, record: AuditRecord(token: .replay, reason: "r", context: context(1)), replyDeadline: 5)
        t.markSent(1)
        guard case let .recordNotDurable(client, own) = t.brokerReplied(1, token: "DENY_AUDIT_UNAVAILABLE") else {
            Issue.record("not kept"); return
        }
        #expect(client == c && own == .replay)
        #expect(t.recordCount == 1 && t.unsentRecords.count == 1)
        #expect(t.request(for: c) == nil, "the client was answered")
    }

    @Test func allowForADenialIsAProtocolViolation() {
        var t = RequestTable<String>()
        t.denied(1, client: nil, record: AuditRecord(token: .replay, reason: "r", context: context(1)), replyDeadline: 0)
        guard case .allowForDenial = t.brokerReplied(1, token: "ALLOW") else { Issue.record("accepted"); return }
        #expect(t.recordCount == 1)
    }

    @Test func decisionTheBrokerCouldNotRecordIsReturnedForAHeldRecord() {
        var t = RequestTable<String>()
        let c = t.connect(fd: 3, "c")
        t.forwarded(1, client: c, context: context(1), proverDeadline: 2, replyDeadline: 10)
        guard case let .decisionNotRecorded(client, ctx) = t.brokerReplied(1, token: "DENY_AUDIT_UNAVAILABLE") else {
            Issue.record("not returned"); return
        }
        #expect(client == c && ctx.requestID == 1 && t.requestCount == 0)
    }

    @Test func deadlines() {
        var t = RequestTable<String>()
        let a = t.connect(fd: 3, "a")
        let b = t.connect(fd: 4, "b")
        t.forwarded(1, client: a, context: context(1), proverDeadline: 2, replyDeadline: 10)
        t.forwarded(2, client: b, context: context(2), proverDeadline: 2, replyDeadline: 10)
        t.proverHandedOn(2)
        t.denied(3, client: nil, record: AuditRecord(token: .replay, reason: "r", context: context(3)), replyDeadline: 0)
        #expect(t.proverExpired(now: 3) == [1])
        #expect(t.replyExpired(now: 3).isEmpty)
        #expect(t.replyExpired(now: 11) == [1, 2], "a held record has no deadline")
        let (client, ctx, held) = t.end(1)
        #expect(client == a && ctx?.requestID == 1 && held == nil)
        #expect(t.request(for: a) == nil)
    }

    @Test func endingAWaitingDenialKeepsItsRecord() {
        var t = RequestTable<String>()
        let a = t.connect(fd: 3, "a")
        t.denied(1, client: a, record: AuditRecord(token: .canary, reason: "r", context: context(1)), replyDeadline: 5)
        let (client, ctx, held) = t.end(1)
        #expect(client == a && ctx == nil && held == .canary)
        #expect(t.recordCount == 1)
    }

    @Test func boundsInCountAndBytes() {
        var t = RequestTable<String>(maxRecords: 3, maxRecordBytes: 1 << 30)
        for i in 1...3 {
            #expect(t.admitsRecords)
            t.denied(UInt64(i), client: nil, record: AuditRecord(token: .replay, reason: "r", context: context(UInt64(i))), replyDeadline: 0)
        }
        #expect(!t.admitsRecords)
        _ = t.brokerReplied(1, token: "DENY_REPLAY_ATTACK")
        #expect(t.admitsRecords)

        var b = RequestTable<String>(maxRecords: 1000, maxRecordBytes: 4096)
        var n = 0
        while b.admitsRecords {
            n += 1
            b.denied(UInt64(n), client: nil, record: AuditRecord(token: .replay, reason: "r", context: context(UInt64(n))), replyDeadline: 0)
        }
        #expect(n > 1 && n < 1000 && b.recordBytes >= 4096)
    }

    /// Held records keep what the audit record needs, not 4 MiB of contents.
    @Test func largeContentsAreHeldAsTheirDigest() {
        let big = String(repeating: "x", count: 1 << 20)
        let ctx = context(1, contents: big)
        let rec = AuditRecord(token: .replay, reason: "r", context: ctx)
        #expect(rec.context.action?.contents == nil)
        #expect(rec.context.digestedContents?.contentsDigest == Digest.sha256Hex(big))
        #expect(rec.context.digestedContents?.contentsLength == big.utf8.count)
        #expect(rec.context.digestedContents?.actionDigest == ctx.action?.auditDigest)
        #expect(rec.footprint < 4096)
        // Small contents stay as they are.
        let small = AuditRecord(token: .replay, reason: "r", context: context(2, contents: "hi"))
        #expect(small.context.action?.contents == "hi" && small.context.digestedContents == nil)
    }

    /// What the broker writes for a held record is what it would have written for the whole context.
    @Test func digestedContentsSurviveTheLink() {
        let big = String(repeating: "y", count: 5000)
        let rec = AuditRecord(token: .replay, reason: "r", context: context(1, contents: big))
        var w = LinkWriter(type: 1)
        rec.context.encode(into: &w)
        guard var r = LinkReader(body: w.bytes), let back = DecisionContext.decode(from: &r) else {
            Issue.record("does not decode"); return
        }
        #expect(r.atEnd)
        #expect(back.digestedContents == rec.context.digestedContents)
    }
}

@Suite struct PeerObservationCacheTests {
    @Test func cachedPerProcessAndBounded() {
        var c = PeerObservationCache(capacity: 4, maxAge: 10)
        let v = PeerView(executable: "/usr/bin/python3", pidNamespace: "pid:[1]", inOtherPidNamespace: false)
        let k = PeerKey(pid: 10, startTime: 100)
        let ask1 = c.shouldAsk(k, now: 0, retryAfter: 1)
        let ask2 = c.shouldAsk(k, now: 0.5, retryAfter: 1)
        #expect(ask1)
        #expect(!ask2, "one question per process under way")
        c.store(k, v, now: 0)
        #expect(c.lookup(k, now: 1) == v)
        #expect(c.lookup(PeerKey(pid: 10, startTime: 101), now: 1) == nil, "a reused pid is another process")
        #expect(c.lookup(k, now: 11) == nil, "entries age out")
        for i in 0..<20 { c.store(PeerKey(pid: Int32(i), startTime: 1), v, now: 5) }
        #expect(c.count <= 4)
    }

    @Test func unreadablePeersCount() {
        let peer = PeerCredentials(pid: 1, uid: 1000, gid: 1000)
        let seen = PeerObservation.from(peer, startTime: 1, view: PeerView(executable: "/bin/x", pidNamespace: "pid:[1]", inOtherPidNamespace: false))
        #expect(seen.observedRisk == 0)
        let hidden = PeerObservation.from(peer, startTime: 1, view: .unreadable)
        #expect(hidden.observedRisk == 30)
        #expect(hidden.signals.contains("exe_unreadable") && hidden.signals.contains("pidns_unobservable"))
        let root = PeerObservation.from(PeerCredentials(pid: 1, uid: 0, gid: 0), startTime: 1,
                                        view: PeerView(executable: "/bin/x", pidNamespace: "pid:[1]", inOtherPidNamespace: false))
        #expect(root.observedRisk == 25)
    }
}

@Suite struct ReplyDeadlineTests {
    func ctx(_ kind: String?, execute: Bool) -> DecisionContext {
        var c = DecisionContext()
        c.execute = execute
        if let kind { c.action = ProposedAction(kind: kind, command: "sleep 23") }
        return c
    }

    /// The gate waits for an execution as long as the tool may run, never a fixed 20 s.
    @Test func followsTheAgentsToolLimits() {
        var limits = ToolLimits()
        limits.timeoutSeconds = 60
        let shell = ReplyDeadline.seconds(for: ctx("shell_command", execute: true), limits: limits)
        #expect(shell > 60 + ReplyDeadline.proverLimit)
        let net = ReplyDeadline.seconds(for: ctx("network_request", execute: true), limits: limits)
        #expect(net > ReplyDeadline.networkFetchTimeout && net < shell)
        let verdictOnly = ReplyDeadline.seconds(for: ctx("shell_command", execute: false), limits: limits)
        #expect(verdictOnly == ReplyDeadline.proverLimit + ReplyDeadline.decisionLimit)
        #expect(ReplyDeadline.seconds(for: ctx(nil, execute: true), limits: nil) == verdictOnly)
    }
}

@Suite struct PeerStartTimeTests {
    /// A process's start time and the accept clock are in the same unit: this process started before now,
    /// and a process started now is not older than an accept a moment ago.
    @Test func startTimesCompareWithTheAcceptClock() throws {
        let own = try #require(PeerObservation.startTime(getpid()))
        let now = PeerObservation.bootTicks()
        #expect(own <= now)
        #expect(now - own < 100 * 3600 * 24 * 365, "same clock, not nanoseconds against ticks")
    }
}
