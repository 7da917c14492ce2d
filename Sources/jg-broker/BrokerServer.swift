import Glibc
import JGAudit
import JGBrokerCore
import JGCrypto
import JGIPC
import JGJSON
import JGPolicy

/// One decided request waiting for its audit record to become durable.
struct WorkItem {
    var context: DecisionContext
    var token: String
    var reason: String
    var stage: String
    var violated: [String] = []
    var constraints: Constraints?
    /// Audit-only: the gate already denied it.
    var auditOnly: Bool
}

final class BrokerServer {
    let loop: EventLoop
    let control: ControlChannel
    var policy: Policy?
    var audit: AuditLog?
    var auditError: String?
    var runner: ToolRunner?
    /// Per-agent tool accounts from the supervisor, kept across the first configure (ToolSettings.swift).
    var tools = ToolSettings()
    /// Agents whose last best_effort run lacked sandbox layers: reported as degraded.
    var degraded: [String: String] = [:]
    var gate: LinkEndpoint?
    var prover: LinkEndpoint?
    var kernel: LinkEndpoint?
    var batch: [WorkItem] = []
    var events: [AuditEntryParts] = []
    var rate: [String: (window: Int, count: Int)] = [:]
    var signingKey: Ed25519Key?
    var sealed: SealedStore?
    var auditPath = ""
    var lastCheckpoint: UInt64 = 0
    /// A signed checkpoint after this many entries (and at shutdown).
    let checkpointEvery: UInt64 = getenv("JINNGUARD_CHECKPOINT_EVERY").flatMap { UInt64(String(cString: $0)) }.map { max(1, $0) } ?? 256

    init(loop: EventLoop, control: ControlChannel) {
        self.loop = loop
        self.control = control
        // Group commit: everything that arrived in one loop iteration shares one write and one fdatasync.
        loop.onIteration = { [unowned self] in self.commit() }
    }

    func configure(policy canonical: String, settings: String) -> (Bool, String) {
        let p: Policy
        do { p = try CanonicalPolicy.decode(canonical) } catch { return (false, error.description) }
        policy = p
        var warnings: [JSONValue] = []
        if let s = try? JSONParser.parse(settings), case let .array(w)? = s["policy_warnings"] { warnings = w }
        defer {
            if !warnings.isEmpty {
                events.append(AuditRecords.event("PolicyWarnings", signals: ["policy_digest=\(p.digest)"],
                                                 details: [("warnings", .array(warnings))]))
            }
        }
        tools = ToolSettings(settings)
        runner?.apply(tools)
        if audit == nil {
            guard let s = try? JSONParser.parse(settings), let path = s["audit_log"]?.stringValue, let state = s["state_dir"]?.stringValue else {
                return (false, "bad broker settings")
            }
            do {
                signingKey = try AuditSigningKey.loadOrCreate(privatePath: state + "/audit-signing.key",
                                                              publicPath: state + "/audit-signing.pub")
                auditPath = path
                let log = try AuditLog(path: path)
                var signals = ["component=jg-broker", "policy_digest=\(p.digest)"]
                if let torn = log.recoveredTornTail {
                    signals.append("recovered_torn_tail_bytes=\(torn)")
                    if let tp = log.tornTailPath { signals.append("torn_tail_saved=\(tp)") }
                }
                if let k = signingKey { signals.append("checkpoint_key_id=\(AuditCheckpoint.keyID(k.publicKey))") }
                _ = try log.appendBoot(extraSignals: signals, observation: .object([("pid", .integer(.signed(Int64(getpid()))))]))
                audit = log
                sealed = try SealedStore(auditLogPath: path)
                checkpoint()
            } catch {
                auditError = error.description
                report()
                return (false, "audit log \(path): \(error)")
            }
            let ws = state + "/workspace"
            if mkdir(ws, 0o755) != 0 && errno != EEXIST { return (false, "cannot create workspace \(ws)") }
            // The root of the workspaces is the broker's (it creates one directory per agent, owned by the tool user).
            _ = chown(ws, getuid(), getgid())
            runner = ToolRunner(workspace: ws, stateDir: state)
            runner?.apply(tools)
            // Each run's cgroup sits below the agent's governed cgroup (enforced from the start); jg-kernel
            // is also asked to govern the run cgroup itself, so its telemetry names the run.
            runner?.onRunCgroup = { [unowned self] path, agent, start in
                guard let k = self.kernel, k.isOpen else { return }
                var w = LinkWriter(type: (start ? BrokerToKernel.govern : BrokerToKernel.release).rawValue)
                w.string(path)
                if start { w.string(agent) }
                let before = self.governedReplies
                // The answer is awaited (briefly) so the cgroup exists while jg-kernel looks at it; the run
                // is enforced through its governed parent either way.
                if !k.sendNow(w) || !k.pump(timeout: 0.5, until: { self.governedReplies > before }) {
                    Log.warn("jg-kernel did not answer \(start ? "govern" : "release") for \(path) in time")
                }
            }
        } else {
            events.append(AuditRecords.event("PolicyReload", signals: ["policy_digest=\(p.digest)"],
                                             details: [("agents", .integer(.signed(Int64(p.agents.count))))]))
        }
        runner?.canaryResources = p.canaryResources
        report()
        return (true, "audit log at index \(audit?.nextIndex ?? 0)")
    }

    func report() {
        var pairs: [(String, JSONValue)] = [("audit_next_index", .integer(.unsigned(audit?.nextIndex ?? 0)))]
        if let e = auditError ?? audit?.failed?.description { pairs.append(("audit_error", .string(e))) }
        if !degraded.isEmpty {
            pairs.append(("sandbox_degraded", .array(degraded.sorted { $0.key < $1.key }.map { .string("\($0.key): \($0.value)") })))
        }
        control.reportStatus(JSONWriter.write(.object(pairs)))
    }

    func link(_ peer: Component, _ fd: OwnedFD) {
        guard let ep = try? LinkEndpoint(peer: peer, fd: fd, loop: loop) else { return }
        ep.onBreak = { [unowned self] in self.control.linkBroken(peer) }
        switch peer {
        case .gate:
            gate?.close(); gate = ep
            ep.onMessage = { [unowned self] r throws(LinkProtocolError) in try self.fromGate(&r) }
        case .prover:
            prover?.close(); prover = ep
            ep.onMessage = { [unowned self] r throws(LinkProtocolError) in try self.fromProver(&r) }
        case .kernel:
            kernel?.close(); kernel = ep
            ep.onMessage = { [unowned self] r throws(LinkProtocolError) in try self.fromKernel(&r) }
            ep.send(LinkWriter(type: BrokerToKernel.planesRequest.rawValue))
        case .broker:
            ep.close()
        }
    }

    func fromGate(_ r: inout LinkReader) throws(LinkProtocolError) {
        if GateToBroker(rawValue: r.type) == .agentEvent {
            guard let agent = r.string(), let kind = r.string(), let detail = r.string(), r.atEnd else {
                throw LinkProtocolError(link: "gate→broker", reason: "malformed agentEvent")
            }
            events.append(AuditRecords.agentEvent(kind, agent: agent, source: "jg-gate", details: [("detail", .string(detail))]))
            return
        }
        guard GateToBroker(rawValue: r.type) == .auditDenied, let id = r.u64(), let token = r.string(), let reason = r.string(),
              var ctx = DecisionContext.decode(from: &r), r.atEnd else {
            throw LinkProtocolError(link: "gate→broker", reason: "unexpected or malformed message \(r.type)")
        }
        // The gate may only report denials: whatever it says, nothing here can become an ALLOW.
        guard token.hasPrefix("DENY_") else { throw LinkProtocolError(link: "gate→broker", reason: "audit-only record with \(token)") }
        ctx.requestID = id
        batch.append(WorkItem(context: ctx, token: token, reason: reason, stage: "gate", auditOnly: true))
    }

    func fromProver(_ r: inout LinkReader) throws(LinkProtocolError) {
        guard ProverToBroker(rawValue: r.type) == .decided, let d = ProverDecision.decode(from: &r),
              let ctx = DecisionContext.decode(from: &r), r.atEnd else {
            throw LinkProtocolError(link: "prover→broker", reason: "unexpected or malformed message \(r.type)")
        }
        var item = WorkItem(context: ctx, token: d.token, reason: d.explanation, stage: "prover", violated: d.violated,
                            constraints: d.constraints, auditOnly: false)
        // The gate answers DENY_PROVER_TIMEOUT at the deadline: nothing decided later may run.
        if Monotonic.now > ctx.proverDeadline {
            item.token = "DENY_PROVER_TIMEOUT"; item.reason = "decision arrived after the prover deadline"; item.stage = "broker"
            item.constraints = nil
        }
        if d.token == "ALLOW" || d.token == "CONSTRAIN" { applyOwnRules(&item) }
        batch.append(item)
    }

    func fromKernel(_ r: inout LinkReader) throws(LinkProtocolError) {
        switch KernelToBroker(rawValue: r.type) {
        case .planes:
            guard let text = r.string(), r.atEnd, let v = try? JSONParser.parse(text) else {
                throw LinkProtocolError(link: "kernel→broker", reason: "malformed planes")
            }
            events.append(AuditRecords.event("KernelPlanes", signals: ["component=jg-kernel"], details: [("planes", v)]))
        case .governed:
            // Runs are placed in cgroups jg-kernel already governs; an answer to nothing asked is ignored.
            guard let ok = r.bool(), r.u64() != nil, let msg = r.string(), r.atEnd else {
                throw LinkProtocolError(link: "kernel→broker", reason: "malformed governed")
            }
            if !ok { Log.warn("jg-kernel: \(msg)") }
            governedReplies += 1
        case .event:
            guard let kind = r.string(), let cg = r.u64(), let pid = r.u32(), let detail = r.string(), r.atEnd else {
                throw LinkProtocolError(link: "kernel→broker", reason: "malformed event")
            }
            kernelEvents.append(.object([("kind", .string(kind)), ("cgroup_id", .integer(.unsigned(cg))),
                                         ("pid", .integer(.unsigned(UInt64(pid)))), ("detail", .string(detail))]))
            if kernelEvents.count >= 64 { flushKernelEvents() }
        case nil:
            throw LinkProtocolError(link: "kernel→broker", reason: "unexpected message \(r.type)")
        }
    }

    /// Kernel telemetry is audited in batches (one record per batch), never one record per syscall.
    var kernelEvents: [JSONValue] = []
    var governedReplies = 0

    func flushKernelEvents() {
        guard !kernelEvents.isEmpty else { return }
        events.append(AuditRecords.event("KernelTelemetry", signals: ["component=jg-kernel"],
                                         details: [("events", .array(kernelEvents))]))
        kernelEvents.removeAll()
    }

    /// The agent's workspace path, computed once per agent (the name check is per-scalar Unicode work).
    var workspaces: [String: String] = [:]

    func workspace(for agentID: String) -> String {
        guard let runner else { return "/nonexistent" }
        if let w = workspaces[agentID] { return w }
        let w = runner.workspace(for: agentID)
        if workspaces.count >= 4096 { workspaces.removeAll() }
        workspaces[agentID] = w
        return w
    }

    /// Steps 17–18 and CONSTRAIN's rate limit: the broker re-checks what it will do.
    func applyOwnRules(_ item: inout WorkItem) {
        let ctx = item.context
        let agent = policy?.agent(ctx.agentID)
        if let why = HardRules.interpreterViolation(ctx.action, agent: agent) {
            item.token = "DENY_INTERPRETER_NOT_ALLOWED"; item.reason = why; item.stage = "broker"; item.constraints = nil
            return
        }
        // Without an action there is nothing for the hard rules to check (and no workspace to name).
        if ctx.action != nil,
           let why = HardRules.violation(ctx.action, workspace: workspace(for: ctx.agentID),
                                         allowedDestinations: agent?.allowedNetworkDestinations ?? []) {
            item.token = "DENY_VIOLATION"; item.reason = "broker hard rule: \(why)"; item.stage = "broker"; item.constraints = nil
            return
        }
        if let c = item.constraints, ctx.execute, ctx.action != nil {
            let now = Int(time(nil))
            var w = rate[ctx.agentID] ?? (now, 0)
            if w.window != now { w = (now, 0) }
            w.count += 1
            rate[ctx.agentID] = w
            if w.count > c.rateLimitRPS {
                item.token = "DENY_RUNTIME_POLICY"; item.reason = "CONSTRAIN rate limit of \(c.rateLimitRPS)/s exceeded"; item.stage = "broker"
                item.constraints = nil
            }
        }
    }

    /// Makes the batch durable, then executes what was allowed, records the outcomes, and replies.
    func commit() {
        flushKernelEvents()
        guard !batch.isEmpty || !events.isEmpty else { return }
        let items = batch
        batch.removeAll(keepingCapacity: true)
        let now = UInt64(time(nil))
        var entries = events
        events.removeAll()
        guard let audit, let sealed else { failAll(items, "no audit log"); return }
        do {
            for item in items {
                let subject = AuditRecords.subject(item.context)
                let commitment = try sealed.seal(subject: subject, reference: "request:\(item.context.requestID)",
                                                 fields: AuditRecords.personalData(item.context))
                entries.append(AuditRecords.decision(item.context, token: item.token, reason: item.reason, stage: item.stage,
                                                     violated: item.violated, constraints: item.constraints,
                                                     sealed: (try sealed.pseudonym(subject), commitment)))
            }
            // Sealed data is written before the chain entry that commits to it (one write per subject and
            // batch), and made durable with the next checkpoint: a second fdatasync per batch would double
            // the cost of every decision.
            try sealed.flush()
        } catch {
            auditError = error.description
            report()
            failAll(items, error.description)
            return
        }
        do { _ = try audit.append(entries, timestamp: now) } catch {
            auditError = error.description
            report()
            failAll(items, error.description)
            return
        }
        var outcomes: [AuditEntryParts] = []
        var replies: [(UInt64, String, [UInt8])] = []
        for item in items {
            let id = item.context.requestID
            guard item.token == "ALLOW" || item.token == "CONSTRAIN" else {
                replies.append((id, item.token, Array("SIGNAL: \(item.token)\n".utf8)))
                continue
            }
            var body = "SIGNAL: \(item.token)\n"
            if let c = item.constraints { body += constraintsJSON(c) + "\n" }
            if item.context.execute, let action = item.context.action, let root = runner {
                let agent = policy?.agent(item.context.agentID)
                guard let runner = root.forAgent(item.context.agentID, mode: agent?.sandboxMode ?? .required) else {
                    let r = JSONWriter.write(.object([("error", .string("cannot prepare the agent workspace")), ("executed", .bool(false))]))
                    body += r + "\n"
                    replies.append((id, item.token, Array(body.utf8)))
                    continue
                }
                let r = runner.run(action, constraints: item.constraints,
                                   allowedDestinations: agent?.allowedNetworkDestinations ?? [],
                                   limits: agent?.toolLimits ?? ToolLimits(), agentID: item.context.agentID)
                outcomes.append(AuditRecords.outcome(item.context, result: r.json, executed: r.executed, sandbox: r.sandbox,
                                                     sandboxMissing: r.sandboxMissing))
                noteSandbox(item.context.agentID, r)
                if let deny = r.denial {
                    replies.append((id, deny, Array("SIGNAL: \(deny)\n".utf8)))
                    continue
                }
                body += JSONWriter.write(r.json) + "\n"
            }
            replies.append((id, item.token, Array(body.utf8)))
        }
        if !outcomes.isEmpty {
            do { _ = try audit.append(outcomes, timestamp: UInt64(time(nil))) } catch {
                // The action ran but its outcome could not be recorded: the agent is not told it succeeded.
                auditError = error.description
                report()
                for i in replies.indices where replies[i].1 == "ALLOW" || replies[i].1 == "CONSTRAIN" {
                    replies[i] = (replies[i].0, "DENY_AUDIT_UNAVAILABLE", Array("SIGNAL: DENY_AUDIT_UNAVAILABLE\n".utf8))
                }
            }
        }
        for (id, token, body) in replies { reply(id, token, body) }
        if audit.nextIndex >= lastCheckpoint + checkpointEvery { checkpoint() }
    }

    /// Signs the chain head into the manifests. A failure is logged and reported, not fatal: the chain
    /// itself stays durable, and the next checkpoint covers everything before it.
    func checkpoint() {
        guard let audit, let key = signingKey, audit.nextIndex > 0 else { return }
        sealed?.sync()
        do {
            try AuditCheckpoint.append(logPath: auditPath, lastIndex: audit.nextIndex - 1, lastHash: audit.lastHash, key: key)
            lastCheckpoint = audit.nextIndex
        } catch {
            Log.error("checkpoint: \(error)")
        }
    }

    func constraintsJSON(_ c: Constraints) -> String {
        JSONWriter.write(.object([
            ("redact_output", .bool(c.redactOutput)), ("rate_limit_rps", .integer(.signed(Int64(c.rateLimitRPS)))),
            ("allowed_network_destinations", .array(c.allowedNetworkDestinations.map { .string($0) })),
            ("output_byte_limit", .integer(.signed(Int64(c.outputByteLimit)))),
        ]))
    }

    func failAll(_ items: [WorkItem], _ why: String) {
        Log.error("audit append failed, denying \(items.count) requests: \(why)")
        for item in items { reply(item.context.requestID, "DENY_AUDIT_UNAVAILABLE", Array("SIGNAL: DENY_AUDIT_UNAVAILABLE\n".utf8)) }
    }

    func reply(_ id: UInt64, _ token: String, _ body: [UInt8]) {
        var w = LinkWriter(type: BrokerToGate.reply.rawValue)
        w.u64(id); w.string(token); w.data(body)
        gate?.send(w)
    }

    func shutdown() {
        commit()
        if let audit {
            _ = try? audit.append([AuditRecords.event("Shutdown", signals: ["component=jg-broker"], details: [])], timestamp: UInt64(time(nil)))
            checkpoint()
            audit.close()
        }
    }
}
