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
    /// A second reply line after a DENY_ token (the hold id of DENY_HOLD_PENDING_REVIEW).
    var replyDetail: String? = nil
    /// Shadow mode (BrokerShadow.swift): the verdict the policy would have given, and why.
    var shadow: (token: String, reason: String)? = nil
}

final class BrokerServer {
    let loop: EventLoop
    let control: ControlChannel
    var policy: Policy?
    /// Human approval (BrokerHolds.swift): the holds, persisted at `holdsPath`.
    var holds = HoldStore()
    var holdsPath: String?
    /// Shadow-mode decisions that would have been denied, per token (status → /metrics).
    var shadowWouldDeny: [String: UInt64] = [:]
    var shadowDirty = false
    var audit: AuditLog?
    var auditError: String?
    var runner: ToolRunner?
    /// Per-agent tool accounts from the supervisor, kept across the first configure (ToolSettings.swift).
    var tools = ToolSettings()
    /// Agents whose last best_effort run lacked sandbox layers: reported as degraded.
    var degraded: [String: String] = [:]
    var gate: LinkEndpoint?
    /// `BrokerToGate.ready` went out on the current gate link.
    var gateToldReady = false
    var prover: LinkEndpoint?
    var kernel: LinkEndpoint?
    var batch: [WorkItem] = []
    var events: [AuditEntryParts] = []
    var rate: [String: (window: Int, count: Int)] = [:]
    var signingKey: Ed25519Key?
    var sealed: SealedStore?
    var auditPath = ""
    var lastCheckpoint: UInt64 = 0
    /// Tool runs: admission, the runs waiting and in flight, and the outcomes still to record (BrokerRuns.swift).
    var slots = RunSlots()
    var waitingRuns: [UInt64: PendingRun] = [:]
    var activeRuns: [UInt64: ChildWatch] = [:]
    var endedRuns: [UInt64] = []
    var finishedRuns: [FinishedRun] = []
    var queueTimerArmed = false
    /// Entries that could not be written (a full disk): written first by the next append that succeeds.
    var backlog: [AuditEntryParts] = []
    var backlogDropped = 0
    var lastBacklogRetry = 0.0
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
            // Both directories are reached through the descriptors the supervisor handed over (DirectoryHandle):
            // the directories above them may be closed to this user. Names stay names in what is recorded.
            let stateDir = DirectoryHandle(name: state, access: s["state_dir_access"]?.stringValue ?? state)
            let slash = path.lastIndex(of: "/") ?? path.startIndex
            let auditDirName = String(path[..<slash])
            let auditDir = DirectoryHandle(name: auditDirName, access: s["audit_dir_access"]?.stringValue ?? auditDirName)
            let accessPath = auditDir.access + path[slash...]
            // Under systemd the handed descriptors are in the rendezvous's mount namespace: the workspaces the
            // tool views bind must be reached through this unit's own (OwnMountView).
            if SystemdComponent.active {
                for h in [stateDir, auditDir] {
                    guard let fd = OwnMountView.descriptor(ofAccess: h.access) else { continue }
                    if let problem = OwnMountView.reopen(fd: fd, name: h.name) { Log.warn("\(h.name) stays as handed over: \(problem)") }
                }
            }
            do {
                signingKey = try AuditSigningKey.loadOrCreate(privatePath: stateDir.access + "/audit-signing.key",
                                                              publicPath: stateDir.access + "/audit-signing.pub")
                auditPath = accessPath
                let log = try AuditLog(path: accessPath)
                var signals = ["component=jg-broker", "policy_digest=\(p.digest)"]
                if let torn = log.recoveredTornTail {
                    signals.append("recovered_torn_tail_bytes=\(torn)")
                    if let tp = log.tornTailPath { signals.append("torn_tail_saved=\(auditDir.name(ofAccess: tp))") }
                }
                if let k = signingKey { signals.append("checkpoint_key_id=\(AuditCheckpoint.keyID(k.publicKey))") }
                _ = try log.appendBoot(extraSignals: signals, observation: .object([("pid", .integer(.signed(Int64(getpid()))))]))
                audit = log
                sealed = try SealedStore(auditLogPath: accessPath)
                checkpoint()
            } catch {
                auditError = auditDir.naming(stateDir.naming(error.description))
                report()
                return (false, "audit log \(path): \(auditError ?? "")")
            }
            loadHolds(stateAccess: stateDir.access)
            let ws = stateDir.child("workspace")
            if mkdir(ws.access, 0o755) != 0 && errno != EEXIST { return (false, "cannot create workspace \(ws.name)") }
            // The root of the workspaces is the broker's (it creates one directory per agent, owned by the tool user).
            _ = chown(ws.access, getuid(), getgid())
            runner = ToolRunner(workspace: ws, stateDir: state)
            runner?.apply(tools)
            // Each run's cgroup sits below the agent's governed cgroup (enforced from the start); jg-kernel
            // is also asked to govern the run cgroup itself, so its telemetry names the run.
            // Nothing is waited for (a stopped jg-kernel must not stall the broker): the run is enforced
            // through its governed parent from the start, and its cgroup is kept until jg-kernel has
            // answered the release (it looks the cgroup up by path, and drains the run's telemetry first), or
            // for half a second at most; the run's reply waits for that, not the loop.
            runner?.onRunCgroup = { [unowned self] path, agent, start, then in
                self.governRunCgroup(path: path, agent: agent, start: start, then: then)
            }
        } else {
            events.append(AuditRecords.event("PolicyReload", signals: ["policy_digest=\(p.digest)"],
                                             details: [("agents", .integer(.signed(Int64(p.agents.count))))]))
        }
        runner?.canaryResources = p.canaryResources
        governDelegatedAgentCgroups()
        report()
        tellGateReady()
        return (true, "audit log at index \(audit?.nextIndex ?? 0)")
    }

    func report() {
        var pairs: [(String, JSONValue)] = [("audit_next_index", .integer(.unsigned(audit?.nextIndex ?? 0)))]
        if let e = auditError ?? audit?.failed?.description { pairs.append(("audit_error", .string(e))) }
        if !shadowWouldDeny.isEmpty {
            pairs.append(("shadow_would_deny", .object(shadowWouldDeny.sorted { $0.key < $1.key }.map { ($0.key, .integer(.unsigned($0.value))) })))
        }
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
            gateToldReady = false
            ep.onMessage = { [unowned self] r throws(LinkProtocolError) in try self.fromGate(&r) }
            tellGateReady()
        case .prover:
            prover?.close(); prover = ep
            ep.onMessage = { [unowned self] r throws(LinkProtocolError) in try self.fromProver(&r) }
        case .kernel:
            kernel?.close(); kernel = ep
            // Answers to what the old link was asked will not come: whatever waits for them goes on.
            flushGovernContinuations()
            ep.onMessage = { [unowned self] r throws(LinkProtocolError) in try self.fromKernel(&r) }
            ep.send(LinkWriter(type: BrokerToKernel.planesRequest.rawValue))
            governDelegatedAgentCgroups()
        case .broker:
            ep.close()
        }
    }

    /// The gate holds its records (and forwards no request) until this broker can write them.
    func tellGateReady() {
        guard audit != nil, !gateToldReady, let gate, gate.isOpen else { return }
        gateToldReady = gate.send(LinkWriter(type: BrokerToGate.ready.rawValue))
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
              var ctx = DecisionContext.decode(from: &r), r.atEnd else {
            throw LinkProtocolError(link: "prover→broker", reason: "unexpected or malformed message \(r.type)")
        }
        // Digests stand for contents only in the gate's audit-only records; a decision carries the action itself.
        ctx.digestedContents = nil
        var item = WorkItem(context: ctx, token: d.token, reason: d.explanation, stage: "prover", violated: d.violated,
                            constraints: d.constraints, auditOnly: false)
        // The gate answers DENY_PROVER_TIMEOUT at the deadline: nothing decided later may run.
        if Monotonic.now > ctx.proverDeadline {
            item.token = "DENY_PROVER_TIMEOUT"; item.reason = "decision arrived after the prover deadline"; item.stage = "broker"
            item.constraints = nil
        }
        applyShadow(&item, d)
        if item.token == "ALLOW" || item.token == "CONSTRAIN" { applyOwnRules(&item) }
        applyApproval(&item)
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
            governResults.removeValue(forKey: governedReplies)?(ok)
            runGovernContinuations()
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
    var governSent = 0
    /// Continuations waiting for jg-kernel's answer number `reply` (answers come in order).
    var governContinuations: [(reply: Int, then: () -> Void)] = []
    /// Callbacks for the answer number `reply` that need its verdict (DelegatedRunGovernance.swift).
    var governResults: [Int: (Bool) -> Void] = [:]
    var delegatedGovernAsked: Set<String> = []
    var delegatedGovernTries: [String: Int] = [:]

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
                                         allowedDestinations: agent?.allowedNetworkDestinations ?? [],
                                         writablePaths: agent?.writablePaths ?? []) {
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

    /// Makes the batch durable, then starts what was allowed, and records the outcomes of runs that ended
    /// (each before its reply). Runs are watched from the loop (BrokerRuns.swift): nothing here waits
    /// for a tool.
    func commit() {
        flushKernelEvents()
        pumpRunQueue()
        armRunQueue()
        for id in endedRuns { activeRuns[id] = nil }
        endedRuns.removeAll()
        guard !batch.isEmpty || !events.isEmpty || !finishedRuns.isEmpty || !backlog.isEmpty else { return }
        // Held records alone are retried twice a second at most (the loop wakes at least once a second):
        // on a full disk every attempt writes and cuts back again.
        if batch.isEmpty && events.isEmpty && finishedRuns.isEmpty {
            guard Monotonic.now - lastBacklogRetry >= 0.5 else { return }
            lastBacklogRetry = Monotonic.now
        }
        var items = batch
        batch.removeAll(keepingCapacity: true)
        let now = UInt64(time(nil))
        let eventEntries = events
        events.removeAll()
        guard let audit, let sealed else {
            backlog(eventEntries)
            failAll(items, "no audit log")
            failFinished("no audit log")
            return
        }
        // Admission before the decisions are written, so that a run refused for its limits or its deadline
        // is recorded as the refusal it is.
        let plans = items.indices.map { admit(&items[$0]) }
        var decisions: [AuditEntryParts] = []
        do {
            for item in items {
                let subject = AuditRecords.subject(item.context)
                let commitment = try sealed.seal(subject: subject, reference: "request:\(item.context.requestID)",
                                                 fields: AuditRecords.personalData(item.context))
                decisions.append(AuditRecords.decision(item.context, token: item.token, reason: item.reason, stage: item.stage,
                                                       violated: item.violated, constraints: item.constraints, shadow: item.shadow,
                                                       sealed: (try sealed.pseudonym(subject), commitment)))
            }
            // Sealed data is written before the chain entry that commits to it (one write per subject and
            // batch), and made durable with the next checkpoint: a second fdatasync per batch would double
            // the cost of every decision.
            try sealed.flush()
        } catch {
            if auditError != error.description { auditError = error.description; report() }
            backlog(eventEntries)
            unadmit(items, plans)
            failAll(items, error.description)
            failFinished(error.description)
            return
        }
        let outcomes = finishedRuns
        finishedRuns.removeAll()
        guard appendDurably(eventEntries + decisions + outcomes.map(\.entry), timestamp: now) else {
            // Nothing of this batch is in the chain: it is kept (the denials as what they became) for the
            // first append that succeeds.
            backlog(eventEntries)
            backlog(outcomes.map(\.entry))
            unadmit(items, plans)
            failAll(items, auditError ?? "audit append failed")
            for f in outcomes { reply(f.id, "DENY_AUDIT_UNAVAILABLE", Array("SIGNAL: DENY_AUDIT_UNAVAILABLE\n".utf8)) }
            return
        }
        for f in outcomes { reply(f.id, f.token, f.body) }
        for (item, plan) in zip(items, plans) {
            let id = item.context.requestID
            guard item.token == "ALLOW" || item.token == "CONSTRAIN" else {
                reply(id, item.token, Array("SIGNAL: \(item.token)\n\(item.replyDetail.map { $0 + "\n" } ?? "")".utf8))
                continue
            }
            var body = "SIGNAL: \(item.token)\n"
            if let c = item.constraints { body += constraintsJSON(c) + "\n" }
            switch plan {
            case .reply: reply(id, item.token, Array(body.utf8))
            case let .now(deadline, slot): launch(PendingRun(item: item, prefix: body, deadline: deadline, slot: slot))
            case let .wait(deadline): waitingRuns[id] = PendingRun(item: item, prefix: body, deadline: deadline, slot: false)
            }
        }
        armRunQueue()
        // Outcomes of actions done at once (file writes, refusals) are recorded before their replies go out.
        recordFinished()
        if shadowDirty { shadowDirty = false; report() }
        if audit.nextIndex >= lastCheckpoint + checkpointEvery { checkpoint() }
    }

    /// Signs the chain head into the manifests. A failure is logged and reported, not fatal: the chain
    /// itself stays durable, and the next checkpoint covers everything before it.
    func checkpoint() {
        guard let audit, let key = signingKey, audit.nextIndex > 0 else { return }
        do {
            try sealed?.sync()
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
        guard !items.isEmpty else { return }
        Log.error("audit append failed, denying \(items.count) requests: \(why)")
        // The denials are recorded as soon as the log takes appends again.
        backlog(items.map { unavailableRecord($0, why) })
        for item in items { reply(item.context.requestID, "DENY_AUDIT_UNAVAILABLE", Array("SIGNAL: DENY_AUDIT_UNAVAILABLE\n".utf8)) }
    }

    func reply(_ id: UInt64, _ token: String, _ body: [UInt8]) {
        var w = LinkWriter(type: BrokerToGate.reply.rawValue)
        w.u64(id); w.string(token); w.data(body)
        gate?.send(w)
    }

    func shutdown() {
        commit()
        let killed = killActiveRuns()
        if let audit {
            do {
                _ = try audit.append(backlog + [AuditRecords.event("Shutdown", signals: ["component=jg-broker", "killed_runs=\(killed)"], details: [])],
                                     timestamp: UInt64(time(nil)))
            } catch {
                Log.error("audit: the shutdown records were not written: \(error)")
            }
            checkpoint()
            audit.close()
        }
    }
}
