import Glibc
import JGCrypto
import JGGateCore
import JGIPC
import JGJSON

/// `jinnguard keys issue|rotate` (over the operator socket): the supervisor writes the agent's key file
/// for its user, hands the gate the new key set, answers only once the gate has taken it, and has the
/// broker audit it (`KeyIssued`, `KeyRotated`: the key's fingerprint, never the key). A rotated key stays
/// accepted until its expiry; the keys are reloaded then, so it goes without a restart.
struct KeyOperations {
    /// Operators waiting for the gate's `configured` after a key change: fd → message for them.
    var waiting: [(fd: Int32, message: String)] = []
    /// When the next rotated key expires (a reload is scheduled for then).
    var scheduledExpiry: UInt64?
    static let defaultGraceSeconds: UInt64 = 24 * 3600
}

extension Supervisor {
    var agentKeyDir: String? { settings.keys.agentDir }

    /// Re-reads every key (shared, previous, per agent) and gives the gate the new set. False, with the
    /// reason logged, when they do not load: the running set stays.
    @discardableResult
    func reloadKeys(why: String) -> Bool {
        do {
            let (keys, _) = try settings.keys.load()
            keySettings = KeyLoader.settingsJSON(keys)
        } catch {
            Log.error("\(why): keys not reloaded, the running ones stay: \(error)")
            return false
        }
        if let gate = children[.gate], gate.control != nil { sendConfigure(.gate) }
        scheduleKeyExpiry()
        return true
    }

    func scheduleKeyExpiry() {
        guard let dir = agentKeyDir else { return }
        let now = UInt64(time(nil))
        guard let next = AgentKeyFiles.nextExpiry(dir: dir, now: now), next != keyOps.scheduledExpiry else { return }
        keyOps.scheduledExpiry = next
        loop.after(Double(next - now) + 1) { [unowned self] in
            guard self.keyOps.scheduledExpiry == next else { return }
            self.keyOps.scheduledExpiry = nil
            Log.info("a rotated agent key expired: keys reloaded")
            self.reloadKeys(why: "key expiry")
        }
    }

    /// The gate configured: operators waiting on a key change are told it is in force.
    func keysTaken(ok: Bool) {
        let w = keyOps.waiting
        keyOps.waiting = []
        for (fd, message) in w {
            operatorReply(fd, ok: ok, message: ok ? message : "jg-gate refused the new keys")
            closeOperator(fd)
        }
    }

    /// {"command":"keys","action":"issue"|"rotate","agent":ID,"uid":N,"gid":N,"grace_seconds":N}
    func keysRequest(_ fd: Int32, _ v: JSONValue, _ peer: PeerCredentials) {
        func refuse(_ why: String) { operatorReply(fd, ok: false, message: why); closeOperator(fd) }
        guard let action = v["action"]?.stringValue, action == "issue" || action == "rotate",
              let agent = v["agent"]?.stringValue, case let .integer(u)? = v["uid"], let uid64 = u.uint64, uid64 < UInt64(UInt32.max),
              case let .integer(g)? = v["gid"], let gid64 = g.uint64, gid64 < UInt64(UInt32.max) else { return refuse("bad keys request") }
        let uid = UInt32(uid64), gid = UInt32(gid64)
        var grace = KeyOperations.defaultGraceSeconds
        if case let .integer(gs)? = v["grace_seconds"], let x = gs.uint64 { grace = x }
        guard let dir = agentKeyDir else { return refuse("no per-agent key directory (--agent-secret-dir)") }
        guard AgentKeyFiles.validAgentName(agent), policy.agent(agent) != nil else {
            return refuse("agent \(agent) is not in the running policy")
        }
        guard !Component.allCases.contains(where: { users[$0].uid == uid }) else { return refuse("uid \(uid) is a Jinn Guard component's user") }
        // Audited or not done (as for reset-counter): without a broker and a gate nothing changes.
        guard let b = children[.broker], b.configured, let broker = b.control, broker.isOpen,
              let gate = children[.gate], gate.configured, gate.control?.isOpen == true else {
            return refuse("jg-gate or jg-broker is not running; nothing was changed")
        }
        let path = dir + "/" + agent
        var previousFingerprint: String?
        var validUntil: UInt64 = 0
        do {
            try AgentKeyFiles.prepare(dir)
            if action == "rotate" {
                guard let old = Files.read(path, limit: 1 << 16), let f = KeySet.forms(ofFileBytes: old).first, !f.isEmpty else {
                    return refuse("agent \(agent) has no key of its own to rotate (issue one first)")
                }
                validUntil = UInt64(time(nil)) + grace
                try AgentKeyFiles.writeAtomically(dir: AgentKeyFiles.previousDir(dir), name: agent,
                                                  bytes: Array("\(validUntil)\n".utf8) + f + [0x0A], uid: 0, gid: 0, mode: 0o600)
                previousFingerprint = AgentKeyFiles.fingerprint(f)
            } else {
                // A fresh issue replaces any key at once: nothing earlier is honoured.
                unlink(AgentKeyFiles.previousDir(dir) + "/" + agent)
            }
            guard let key = Digest.random(32) else { return refuse("no randomness for a key") }
            let text = Array(Digest.hex(key).utf8)
            try AgentKeyFiles.writeAtomically(dir: dir, name: agent, bytes: text + [0x0A], uid: uid, gid: gid, mode: 0o400)
            var details: [(String, JSONValue)] = [
                ("key_fingerprint", .string(AgentKeyFiles.fingerprint(text))), ("key_uid", .integer(.unsigned(UInt64(uid)))),
                ("key_file", .string(path)),
                ("operator_uid", .integer(.unsigned(UInt64(peer.uid)))), ("operator_pid", .integer(.signed(Int64(peer.pid)))),
                ("command", .string("jinnguard keys \(action)")),
            ]
            if let p = previousFingerprint {
                details += [("previous_fingerprint", .string(p)), ("previous_valid_until", .integer(.unsigned(validUntil)))]
            }
            var e = LinkWriter(type: ControlRequest.auditEvent.rawValue)
            e.string(action == "issue" ? "KeyIssued" : "KeyRotated"); e.string(agent); e.string(JSONWriter.write(.object(details)))
            broker.send(e)
        } catch {
            return refuse(error.description)
        }
        guard reloadKeys(why: "keys \(action)") else { return refuse("the new key was written but the keys did not load; see the daemon's log") }
        let msg = action == "issue"
            ? "key for \(agent) written to \(path), readable by uid \(uid) only; in force now"
            : "key for \(agent) rotated: new key in \(path); the previous one is accepted until \(validUntil) (unix time)"
        Log.info("operator keys \(action) \(agent) (uid \(uid))")
        keyOps.waiting.append((fd, msg))
    }
}

extension Supervisor {
    /// /metrics asks the gate for its counters before answering (MetricsServer.refresh); false when no
    /// configured gate can answer (the scrape is answered at once with what is known).
    func askGateForStats(nonce: UInt64) -> Bool {
        guard let g = children[.gate], g.pid > 0, g.configured, let c = g.control, c.isOpen else { return false }
        var w = LinkWriter(type: ControlRequest.statsNow.rawValue)
        w.u64(nonce)
        return c.send(w)
    }
}
