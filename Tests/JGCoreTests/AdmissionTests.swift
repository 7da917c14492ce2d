import JGGateCore
import JGIPC
import Testing

@Suite struct AdmissionTests {
    @Test func perUIDCapEvictsThatUIDsOldestIdleConnection() {
        var a = Admission(limits: .init(perUID: 3, total: 100))
        for fd in Int32(10)..<13 { do { let r = a.admit(fd: fd, uid: 7, isIdle: { _ in true }); #expect(r == .admit) } }
        do { let r = a.admit(fd: 13, uid: 7, isIdle: { _ in true }); #expect(r == .admitEvicting(10)) }
        #expect(a.count(uid: 7) == 3)
        // fd 11 is being decided: the next oldest idle one goes
        do { let r = a.admit(fd: 14, uid: 7, isIdle: { $0 != 11 }); #expect(r == .admitEvicting(12)) }
        // nothing idle: refused
        do { let r = a.admit(fd: 15, uid: 7, isIdle: { _ in false }); #expect(r == .refuse) }
        #expect(a.count(uid: 7) == 3)
        // another uid is not affected by uid 7's cap
        do { let r = a.admit(fd: 16, uid: 8, isIdle: { _ in true }); #expect(r == .admit) }
    }

    @Test func fullGateTakesFromTheUIDHoldingTheMost() {
        var a = Admission(limits: .init(perUID: 10, total: 6))
        for fd in Int32(1)...4 { do { let r = a.admit(fd: fd, uid: 100, isIdle: { _ in true }); #expect(r == .admit) } }
        do { let r = a.admit(fd: 5, uid: 200, isIdle: { _ in true }); #expect(r == .admit) }
        do { let r = a.admit(fd: 6, uid: 200, isIdle: { _ in true }); #expect(r == .admit) }
        // full: uid 300 (0 held) gets uid 100's oldest idle slot, not uid 200's
        do { let r = a.admit(fd: 7, uid: 300, isIdle: { _ in true }); #expect(r == .admitEvicting(1)) }
        #expect(a.count == 6)
        // the biggest uid itself cannot take from smaller ones: it loses its own oldest
        do { let r = a.admit(fd: 8, uid: 100, isIdle: { _ in true }); #expect(r == .admitEvicting(2)) }
        // nobody idle: refused
        do { let r = a.admit(fd: 9, uid: 400, isIdle: { _ in false }); #expect(r == .refuse) }
    }

    @Test func releaseAndReuseOfDescriptorNumbers() {
        var a = Admission(limits: .init(perUID: 2, total: 10))
        do { let r = a.admit(fd: 3, uid: 1, isIdle: { _ in true }); #expect(r == .admit) }
        do { let r = a.admit(fd: 4, uid: 1, isIdle: { _ in true }); #expect(r == .admit) }
        a.release(fd: 3)
        a.release(fd: 3)  // twice is harmless
        #expect(a.count(uid: 1) == 1)
        // number 3 reused by another uid: uid 1's queue must not evict it
        do { let r = a.admit(fd: 3, uid: 2, isIdle: { _ in true }); #expect(r == .admit) }
        do { let r = a.admit(fd: 5, uid: 1, isIdle: { _ in true }); #expect(r == .admit) }
        do { let r = a.admit(fd: 6, uid: 1, isIdle: { _ in true }); #expect(r == .admitEvicting(4)) }
        #expect(a.count(uid: 2) == 1)
    }

    @Test func manyConnectionsStayConsistent() {
        var a = Admission(limits: .init(perUID: 50, total: 120))
        var open = Set<Int32>()
        var fd: Int32 = 0
        for i in 0..<5000 {
            fd += 1
            let uid = UInt32(i % 7 == 0 ? 2 : 1)
            switch a.admit(fd: fd, uid: uid, isIdle: { _ in true }) {
            case .admit: open.insert(fd)
            case .admitEvicting(let v):
                do { let r = open.remove(v); #expect(r != nil) }
                open.insert(fd)
            case .refuse: break
            }
            if i % 3 == 0, let any = open.first { open.remove(any); a.release(fd: any) }
        }
        #expect(a.count == open.count)
        #expect(a.count(uid: 1) <= 50)
    }

    @Test func limitsFromEnvironment() {
        let env = ["JINNGUARD_MAX_CONNECTIONS_PER_UID": "12", "JINNGUARD_MAX_CONNECTIONS": "junk"]
        let l = Admission.Limits.from(environment: { env[$0] })
        #expect(l.perUID == 12)
        #expect(l.total == Admission.Limits.defaultTotal)
        #expect(Admission.Limits(perUID: 500, total: 100).perUID == 100)
    }
}

@Suite struct LivenessTests {
    @Test func oneOutstandingPingAtATime() {
        var l = Liveness(now: 100)
        guard let n = l.nextPing(now: 100) else { Issue.record("no first ping"); return }
        do { let r = l.nextPing(now: 100.6); #expect(r == nil) }
        #expect(l.verdict(now: 102) == .alive)
        do { let r = l.pong(n + 1); #expect(r == false) }
        #expect(l.verdict(now: 104) == .unresponsive(4))
        #expect(l.verdict(now: 100 + Liveness.restartAfter) == .dead(Liveness.restartAfter))
        do { let r = l.pong(n); #expect(r) }
        #expect(l.verdict(now: 130) == .alive)
        do { let r = l.nextPing(now: 130); #expect(r != nil) }
    }

    @Test func watcherThatWasStoppedDoesNotBlameTheComponent() {
        var l = Liveness(now: 0)
        _ = l.nextPing(now: 0)
        l.watcherResumed(now: 50)
        #expect(l.verdict(now: 50.5) == .alive)
        #expect(l.verdict(now: 54) == .unresponsive(4))
    }
}

@Suite struct LinkRepairTests {
    @Test func staleReportsAreIgnoredAndRepeatedBreaksRestart() {
        var rep = LinkRepairs()
        rep.started(.gate); rep.started(.broker)
        rep.sent(to: .gate, peer: .broker); rep.sent(to: .broker, peer: .gate)
        do { let r = rep.lost(reporter: .gate, peer: .broker, seq: 1, now: 0); #expect(r == .repair) }
        rep.sent(to: .gate, peer: .broker); rep.sent(to: .broker, peer: .gate)
        // the broker's report about the same (first) link arrives after the repair
        do { let r = rep.lost(reporter: .broker, peer: .gate, seq: 1, now: 0.1); #expect(r == .ignore) }
        do { let r = rep.lost(reporter: .gate, peer: .broker, seq: 2, now: 1); #expect(r == .repair) }
        rep.sent(to: .gate, peer: .broker)
        do { let r = rep.lost(reporter: .gate, peer: .broker, seq: 3, now: 2); #expect(r == .repair) }
        rep.sent(to: .gate, peer: .broker)
        do { let r = rep.lost(reporter: .gate, peer: .broker, seq: 4, now: 3); #expect(r == .restart(.broker)) }
        // a restarted component counts from zero again
        rep.started(.gate)
        rep.sent(to: .gate, peer: .broker)
        do { let r = rep.lost(reporter: .gate, peer: .broker, seq: 1, now: 40); #expect(r == .repair) }
    }
}
