import ArgumentParser
import CJGSys
import Glibc
import JGAudit
import JGCrypto
import JGIPC
import JGJSON
import JGPolicy
import JGPolicyYAML

/// `jinnguard validate`: the original system's validation battery, in plain words, against the daemon
/// the operator runs (--state-dir) and two fresh temporary daemons on the same policy.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a daemon end to end: attacks, determinism, /metrics, the audit chain and tamper detection.",
        discussion: """
        Runs the attack battery (a legitimate agent allowed; forged signature, unknown and anonymous agents, an \
        intent off the allowlist, risk over the ceiling, a canary, a replay, quota exhaustion, a bad protocol \
        version and an oversized frame denied) against two fresh temporary daemons on the same policy and \
        compares their verdicts (determinism), reconciles each one's /metrics with the replies it sent, \
        recomputes its audit chain, and shows that a changed digit and a deleted record are caught.
        With a running daemon (its --state-dir holds jinnguard.sock; default ./jinnguard-state when it runs) \
        the battery runs against it too, with its policy, its key (agent-keys/<agent> when the agent has one, \
        else the shared secret) and its audit log; its /metrics when --metrics-port (or JINNGUARD_METRICS_PORT) \
        names the port it serves. Root only (it reads the keys and audit logs and starts daemons).
        Environment: JINNGUARD_METRICS_PORT (the running daemon's metrics port, as --metrics-port).
        Exit codes: 0 everything holds; 1 something does not (each failing line says what); 2 cannot run.
        """)

    @Option(help: "The running daemon's state directory (socket, secret, policy, audit log inside).") var stateDir = "jinnguard-state"
    @Option(help: "The running daemon's socket, when not <state-dir>/jinnguard.sock.") var socketPath: String?
    @Option(help: "The running daemon's policy, when not <state-dir>/policy.yaml.") var policyFile: String?
    @Option(help: "The running daemon's shared key file, when not <state-dir>/secret.") var secretFile: String?
    @Option(help: "The running daemon's audit log, when not <state-dir>/audit.jsonl.") var auditLog: String?
    @Option(help: "The running daemon's per-agent key directory, when not <state-dir>/agent-keys.") var agentSecretDir: String?
    @Option(help: "The port the running daemon serves /metrics on (also JINNGUARD_METRICS_PORT).") var metricsPort: UInt16?
    @Flag(help: "Only the temporary daemons, even if one runs at --state-dir.") var temporaryOnly = false

    static let validationPolicy = """
    # jinnguard validate: the original validation harness's policy.
    global_safety_ceiling: 90.0
    deny_anonymous_agents: true
    canary_resources: ["canary_decoy_a91f"]
    agent_nodes:
      - id: claims_agent
        privilege_tier: 2
        max_sequence_quota: 0
        allowed_intents: [read_customer_record]
        tool_limits: {workspace_mb: 8}
        invariants: []
      - id: bounded_agent
        privilege_tier: 1
        max_sequence_quota: 3
        allowed_intents: [read_customer_record]
        tool_limits: {workspace_mb: 8}
        invariants: []

    """

    final class Report {
        var failures = 0
        func line(_ ok: Bool, _ text: String) {
            print("  [\(ok ? "ok  " : "FAIL")] \(text)")
            if !ok { failures += 1 }
        }
        func note(_ text: String) { print("         \(text)") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        jg_sys_stdout_line_buffered()
        guard geteuid() == 0 else { print("jinnguard validate: run as root (it reads keys and audit logs, and starts daemons)"); throw ExitCode(2) }
        let report = Report()
        let targetPort = metricsPort ?? getenv("JINNGUARD_METRICS_PORT").flatMap { UInt16(String(cString: $0)) }
        let sock = socketPath ?? stateDir + "/jinnguard.sock"
        let target = !temporaryOnly && access(sock, F_OK) == 0
        var policyText = Self.validationPolicy
        if target {
            let pf = policyFile ?? stateDir + "/policy.yaml"
            guard let t = Files.readText(pf) else { print("jinnguard validate: cannot read \(pf)"); throw ExitCode(2) }
            policyText = t
        }
        let policy: Policy
        do { policy = try PolicyLoader.load(text: policyText, sourceName: "policy") } catch {
            print("jinnguard validate: the policy does not load: \(error)"); throw ExitCode(2)
        }
        guard let claims = policy.agent("claims_agent"), claims.allowedIntents.isEmpty || claims.allowedIntents.contains("read_customer_record") else {
            print("jinnguard validate: the battery needs an agent claims_agent allowed read_customer_record; this policy has none")
            throw ExitCode(2)
        }
        // Counters from the clock in nanoseconds, as the SDK's: never ahead of it, so an agent's next run
        // after this one is not a replay.
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let base = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
        print("Jinn Guard validation" + (target ? " of the daemon at \(sock) (and two temporary daemons on its policy)" : " (two temporary daemons)"))

        var verdictRuns: [[String]] = []
        for i in 1...2 {
            print("\n[\(i)] a fresh temporary daemon")
            let d: ValidationDaemon
            do { d = try ValidationDaemon(policyText: policyText); try d.waitReady() } catch {
                print("jinnguard validate: \(error)"); throw ExitCode(2)
            }
            defer { d.remove() }
            guard let key = Files.read(d.secretFile).flatMap({ KeyValidation.firstForm($0) }) else {
                _ = d.stop(); print("jinnguard validate: cannot read \(d.secretFile)"); throw ExitCode(2)
            }
            let outcomes = ValidationBattery(policy: policy, sequenceBase: base).run(socketPath: d.socketPath, key: key)
            Self.printOutcomes(outcomes, report)
            verdictRuns.append(outcomes.flatMap(\.all))
            Self.reconcileMetrics(port: d.port, outcomes: outcomes, before: [:], report)
            let clean = d.stop()
            report.line(clean, "SIGTERM stopped it cleanly (exit 0)")
            if i == 1 { Self.checkChain(d.auditLog, workDir: d.dir, pubkey: d.dir + "/state/audit-signing.pub", tamper: true, report) }
        }
        print("\n[3] determinism")
        report.line(verdictRuns.count == 2 && verdictRuns[0] == verdictRuns[1],
                    "two fresh daemons gave the same \(verdictRuns.first?.count ?? 0) verdicts, in the same order")

        if target {
            print("\n[4] the running daemon at \(sock)")
            let dir = agentSecretDir ?? stateDir + "/agent-keys"
            let shared = Files.read(secretFile ?? stateDir + "/secret").flatMap { KeyValidation.firstForm($0) }
            // An agent with a key of its own signs with it (and only it); the others with the shared key.
            func key(for agent: String?) -> [UInt8]? {
                if let agent, AgentKeyFiles.validAgentName(agent), let own = Files.read(dir + "/" + agent).flatMap({ KeyValidation.firstForm($0) }) {
                    return own
                }
                return shared
            }
            guard key(for: "claims_agent") != nil else {
                print("jinnguard validate: no key for claims_agent (\(dir)/claims_agent or \(secretFile ?? stateDir + "/secret"))"); throw ExitCode(2)
            }
            if access(dir + "/claims_agent", F_OK) == 0 { report.note("claims_agent has a key of its own (\(dir)/claims_agent): signing with it") }
            let port = targetPort
            let before = port.flatMap { MetricsScrape.decisions(port: $0) } ?? [:]
            let battery = ValidationBattery(policy: policy, sequenceBase: base)
            let outcomes = battery.checks.map { c -> ValidationBattery.Outcome in
                let tokens = c.requests.map { r in
                    ValidationBattery.sendFromChild(r.frame(key: key(for: r.agent) ?? []), socketPath: sock)
                }
                return .init(label: c.label, expected: c.expected, got: tokens.last ?? "", all: tokens)
            }
            Self.printOutcomes(outcomes, report)
            if let port {
                if before.isEmpty { report.line(false, "/metrics on 127.0.0.1:\(port) did not answer") } else {
                    Self.reconcileMetrics(port: port, outcomes: outcomes, before: before, report)
                }
            } else {
                report.note("/metrics not checked on the running daemon: it was started without JINNGUARD_METRICS_PORT (give --metrics-port)")
            }
            Self.checkChain(auditLog ?? stateDir + "/audit.jsonl", workDir: "/tmp", pubkey: stateDir + "/audit-signing.pub", tamper: false, report)
        }

        print("")
        if report.failures == 0 {
            print("RESULT: everything holds.")
        } else {
            print("RESULT: \(report.failures) check\(report.failures == 1 ? "" : "s") failed (marked FAIL above).")
            throw ExitCode(1)
        }
    }

    static func printOutcomes(_ outcomes: [ValidationBattery.Outcome], _ report: Report) {
        for o in outcomes {
            report.line(o.ok, "\(o.label): \(o.got)" + (o.ok ? "" : " (expected \(o.expected.joined(separator: " or ")))"))
        }
        let failOpen = outcomes.filter { !$0.expected.contains("ALLOW") && ($0.got == "ALLOW" || $0.got == "CONSTRAIN") }.count
        report.line(failOpen == 0, "fail-opens (an attack allowed): \(failOpen)")
    }

    /// Every reply counted, by verdict, at once (the metrics count a decision before its reply is sent).
    static func reconcileMetrics(port: UInt16, outcomes: [ValidationBattery.Outcome], before: [String: Double], _ report: Report) {
        guard let after = MetricsScrape.decisions(port: port) else { report.line(false, "/metrics on 127.0.0.1:\(port) did not answer"); return }
        let tokens = outcomes.flatMap(\.all).filter { !$0.hasPrefix("[") }
        var want: [String: Double] = ["allow": 0, "constrain": 0, "deny": 0]
        for t in tokens { want[t == "ALLOW" ? "allow" : t == "CONSTRAIN" ? "constrain" : "deny", default: 0] += 1 }
        var ok = true
        var got: [String] = []
        for v in ["allow", "constrain", "deny"] {
            let delta = (after[v] ?? 0) - (before[v] ?? 0)
            got.append("\(v)=\(Int(delta))")
            if delta != want[v] { ok = false }
        }
        report.line(ok, "/metrics counts every reply: \(got.joined(separator: " ")) for \(tokens.count) replies"
                    + (ok ? "" : " (expected allow=\(Int(want["allow"]!)) constrain=\(Int(want["constrain"]!)) deny=\(Int(want["deny"]!)))"))
    }

    static func checkChain(_ log: String, workDir: String, pubkey: String, tamper: Bool, _ report: Report) {
        let r = AuditVerifier.verify(path: log)
        report.line(r.ok, "audit chain recomputed: " + (r.ok ? "\(r.entries) records, every hash and link holds" : "FAILED at line \(r.firstBadLine.map(String.init) ?? "?"): \(r.reason ?? "")"))
        if let text = Files.readText(pubkey), let key = Digest.unhex(text.trimmingWhitespace()), key.count == 32 {
            let bad = AuditCheckpoint.verifySignatures(logPath: log, publicKey: key)
            report.line(bad == nil, "signed checkpoints verify under \(pubkey)" + (bad.map { ": FAILED at line \($0.line): \($0.reason)" } ?? ""))
        }
        guard tamper else { return }
        guard let t = AuditTamper.run(log: log, workDir: workDir) else { report.line(false, "tamper test: the log has too few records to tamper with"); return }
        report.line(t.contentCaught, "one digit changed in record \(t.contentLine)'s assessment: " + (t.contentCaught ? "caught (\(t.contentReason))" : "NOT caught"))
        report.line(t.deleteCaught, "record \(t.deleteLine) deleted: " + (t.deleteCaught ? "caught (\(t.deleteReason))" : "NOT caught"))
    }
}

enum KeyValidation {
    static func firstForm(_ raw: [UInt8]) -> [UInt8]? {
        var t = raw
        while let l = t.last, l == 0x0A || l == 0x0D || l == 0x20 { t.removeLast() }
        return t.isEmpty ? nil : t
    }
}
