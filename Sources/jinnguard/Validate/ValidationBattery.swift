import Glibc
import JGPolicy

/// The attack battery of the original system's validation harness and of `make demo`: what each
/// request is and which answer holds. Each request is sent from a process of its own (a fork), as
/// separate agent runs are: one lineage session each.
struct ValidationBattery {
    struct Check {
        var label: String
        var expected: [String]
        var requests: [ValidationRequest]
        /// The verdict is the last request's.
    }

    var checks: [Check] = []

    init(policy: Policy, sequenceBase: UInt64) {
        var seq = sequenceBase
        func next() -> UInt64 { seq += 1; return seq }
        let legit = "claims_agent"
        let read = "read_customer_record"
        for r in [10.0, 20, 30] {
            checks.append(Check(label: "legitimate read, declared risk \(Int(r))", expected: ["ALLOW"],
                                requests: [ValidationRequest(agent: legit, intent: read, risk: r, sequence: next())]))
        }
        checks.append(Check(label: "forged signature", expected: ["DENY_TAMPERED_TOKEN"],
                            requests: [ValidationRequest(agent: legit, intent: read, risk: 10, sequence: next(), forgeSignature: true)]))
        checks.append(Check(label: "unknown agent id", expected: ["DENY_UNKNOWN_AGENT_ID"],
                            requests: [ValidationRequest(agent: "ghost_agent", intent: read, risk: 10, sequence: next())]))
        if policy.denyAnonymousAgents {
            checks.append(Check(label: "anonymous agent", expected: ["DENY_ANONYMOUS_AGENT_NOT_PERMITTED"],
                                requests: [ValidationRequest(agent: nil, intent: read, risk: 10, sequence: next())]))
        }
        checks.append(Check(label: "intent not on the allowlist", expected: ["DENY_INTENT_NOT_ALLOWED"],
                            requests: [ValidationRequest(agent: legit, intent: "wipe_database", risk: 10, sequence: next())]))
        // Over the ceiling: the prover's band, or an invariant on fused_risk that bites first.
        checks.append(Check(label: "declared risk 95, over the ceiling", expected: ["DENY_RISK_CEILING_EXCEEDED", "DENY_VIOLATION"],
                            requests: [ValidationRequest(agent: legit, intent: read, risk: 95, sequence: next())]))
        if let canary = policy.canaryResources.first {
            checks.append(Check(label: "canary decoy in the intent", expected: ["DENY_CANARY_TRIPWIRE"],
                                requests: [ValidationRequest(agent: legit, intent: "read_" + canary, risk: 10, sequence: next())]))
        }
        let s = next()
        checks.append(Check(label: "replay: the same signed request twice", expected: ["DENY_REPLAY_ATTACK"],
                            requests: [ValidationRequest(agent: legit, intent: read, risk: 10, sequence: s),
                                       ValidationRequest(agent: legit, intent: read, risk: 10, sequence: s)]))
        if let q = policy.agents.first(where: { (1...10).contains($0.maxSequenceQuota) && ($0.allowedIntents.isEmpty || $0.allowedIntents.contains(read)) }) {
            let n = Int(q.maxSequenceQuota) + 1
            checks.append(Check(label: "quota: request \(n) of \(q.id) (max_sequence_quota \(q.maxSequenceQuota))", expected: ["DENY_QUOTA_EXHAUSTED"],
                                requests: (0..<n).map { _ in ValidationRequest(agent: q.id, intent: read, risk: 10, sequence: next()) }))
        }
        checks.append(Check(label: "bad protocol version", expected: ["DENY_BAD_VERSION"],
                            requests: [ValidationRequest(agent: legit, intent: read, risk: 10, sequence: 0, raw: [0, 0, 0, 2, 9, 0x7B, 0x7D])]))
        checks.append(Check(label: "frame of 4 MiB + 1 byte", expected: ["DENY_PAYLOAD_TOO_LARGE"],
                            requests: [ValidationRequest(agent: legit, intent: read, risk: 10, sequence: 0, raw: [0, 0x40, 0, 1, 1])]))
    }

    struct Outcome {
        var label: String
        var expected: [String]
        var got: String
        /// Every reply's token, in order.
        var all: [String]
        var ok: Bool { expected.contains(got) }
    }

    /// Runs every check; each request from a forked process of its own.
    func run(socketPath: String, key: [UInt8]) -> [Outcome] {
        checks.map { c in
            let tokens = c.requests.map { Self.sendFromChild($0.frame(key: key), socketPath: socketPath) }
            return Outcome(label: c.label, expected: c.expected, got: tokens.last ?? "[nothing sent]", all: tokens)
        }
    }

    /// The token, read back from a child process that sent the request (its own pid: its own lineage session).
    static func sendFromChild(_ frame: [UInt8], socketPath: String) -> String {
        var p: [Int32] = [0, 0]
        guard pipe(&p) == 0 else { return "[no pipe]" }
        _ = fcntl(p[0], F_SETFD, FD_CLOEXEC); _ = fcntl(p[1], F_SETFD, FD_CLOEXEC)
        let pid = fork()
        if pid == 0 {
            close(p[0])
            let t = Array(ValidationClient.send(frame, socketPath: socketPath).utf8)
            _ = write(p[1], t, t.count)
            _exit(0)
        }
        close(p[1])
        guard pid > 0 else { close(p[0]); return "[fork failed]" }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 512)
        while true {
            let n = read(p[0], &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        close(p[0])
        var st: Int32 = 0
        waitpid(pid, &st, 0)
        return out.isEmpty ? "[no answer]" : String(decoding: out, as: UTF8.self)
    }
}
