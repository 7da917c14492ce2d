import Glibc
import JGIPC

/// Liveness pings and link repair: health follows what each component's event loop really does, and a
/// link that broke under two running components is re-paired (JGIPC.Liveness, JGIPC.LinkRepairs decide).
extension Supervisor {
    static let livenessTick = 0.25

    func startLiveness() {
        lastLivenessTick = Monotonic.now
        livenessTick()
    }

    func livenessTick() {
        let now = Monotonic.now
        // A tick far later than asked means this process did not run (SIGSTOP of the supervisor): the
        // components' silence meanwhile is ours, not theirs.
        let resumed = now - lastLivenessTick > max(2, Self.livenessTick * 8)
        lastLivenessTick = now
        var changed = false
        for c in Component.allCases {
            guard let child = children[c], child.pid > 0, child.configured, let ep = child.control, ep.isOpen else { continue }
            if resumed { child.liveness.watcherResumed(now: now) }
            let before = child.liveness.verdict(now: now)
            if let nonce = child.liveness.nextPing(now: now) {
                var w = LinkWriter(type: ControlRequest.ping.rawValue)
                w.u64(nonce)
                ep.send(w)
            }
            let verdict = child.liveness.verdict(now: now)
            if Self.kind(verdict) != Self.kind(before) { changed = true }
            switch verdict {
            case .alive: break
            case .unresponsive(let s):
                if Self.kind(before) == 0 { Log.warn("\(c.rawValue) (pid \(child.pid)) does not answer liveness pings (\(Int(s)) s)") }
            case .dead(let s):
                guard !child.killedForLiveness else { break }
                Log.warn("\(c.rawValue) (pid \(child.pid)) missed liveness pings for \(Int(s)) s; killing it (liveness) to restart it")
                child.killedForLiveness = true
                kill(child.pid, SIGKILL)
            }
        }
        if changed { writeStatus() }
        loop.after(Self.livenessTick) { [unowned self] in self.livenessTick() }
    }

    static func kind(_ v: Liveness.Verdict) -> Int {
        switch v {
        case .alive: return 0
        case .unresponsive: return 1
        case .dead: return 2
        }
    }

    func pong(from c: Component, nonce: UInt64) {
        guard let child = children[c] else { return }
        let was = Self.kind(child.liveness.verdict(now: Monotonic.now))
        child.liveness.pong(nonce)
        if was != 0 {
            Log.info("\(c.rawValue) answers liveness pings again")
            writeStatus()
        }
    }

    /// Problems for health(): components that stopped answering.
    func livenessProblems() -> [String] {
        let now = Monotonic.now
        var out: [String] = []
        for c in Component.allCases {
            guard let child = children[c], child.pid > 0, child.configured else { continue }
            switch child.liveness.verdict(now: now) {
            case .alive: break
            case .unresponsive(let s), .dead(let s):
                out.append("\(c.rawValue) (pid \(child.pid)) does not answer liveness pings for \(Int(s)) s")
            }
        }
        return out
    }

    func responsive(_ c: Component) -> Bool {
        guard let child = children[c] else { return false }
        return child.liveness.verdict(now: Monotonic.now) == .alive
    }

    // MARK: links

    func running(_ c: Component) -> Bool {
        guard let child = children[c] else { return false }
        return child.pid > 0 && child.control?.isOpen == true
    }

    /// `reporter` says its link number `seq` with `peer` broke and no replacement came.
    func linkLost(reporter: Component, peer: Component, seq: UInt64) {
        guard !shuttingDown, Self.links.contains(where: { ($0 == reporter && $1 == peer) || ($0 == peer && $1 == reporter) }) else {
            Log.warn("\(reporter.rawValue) reports a lost link with \(peer.rawValue), which it never had")
            return
        }
        // A peer that is not running gets all its links when it starts again.
        guard running(reporter), running(peer) else { return }
        switch linkRepairs.lost(reporter: reporter, peer: peer, seq: seq, now: Monotonic.now) {
        case .ignore:
            return
        case .repair:
            Log.warn("\(reporter.rawValue) lost its link with \(peer.rawValue); re-pairing them")
            if !connect(reporter, peer) { restartForLink(peer) }
        case .restart(let c):
            restartForLink(c)
        }
    }

    func restartForLink(_ c: Component) {
        guard let child = children[c], child.pid > 0 else { return }
        Log.warn("links of \(c.rawValue) (pid \(child.pid)) keep breaking; restarting it")
        kill(child.pid, SIGKILL)
    }
}
