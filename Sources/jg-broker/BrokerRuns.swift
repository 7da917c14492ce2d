import Glibc
import JGAudit
import JGBrokerCore
import JGIPC
import JGJSON
import JGPolicy

/// An allowed execution whose decision is recorded, waiting for a run slot or about to start.
struct PendingRun {
    var item: WorkItem
    /// The reply's first lines (token, constraints); the result line follows.
    var prefix: String
    /// The gate's reply deadline (RunDeadline.replyDeadline).
    var deadline: Double
    /// Holds a place in `slots` (shell commands and network requests do; file writes are done at once).
    var slot: Bool
}

/// A run that ended: its outcome record and the reply it gets once that record is durable.
struct FinishedRun {
    var id: UInt64
    var token: String
    var body: [UInt8]
    var entry: AuditEntryParts
}

/// What the broker does with one decided item after its decision record is durable.
enum RunPlan {
    case reply
    case now(deadline: Double, slot: Bool)
    case wait(deadline: Double)
}

/// Tool runs off the decision loop: admission against the policy's bounds, the bounded wait, the launch,
/// and the outcome records (durable before the reply).
extension BrokerServer {
    static let backlogLimit = 4096
    static let refusedToken = "DENY_RUNTIME_POLICY"

    var totalRunLimit: Int { policy?.maxConcurrentToolRuns ?? 16 }

    /// Decides whether an allowed execution starts now, waits, or is refused (rewriting the item then).
    func admit(_ item: inout WorkItem) -> RunPlan {
        let ctx = item.context
        guard item.token == "ALLOW" || item.token == "CONSTRAIN", ctx.execute, let action = ctx.action, runner != nil else { return .reply }
        let deadline = RunDeadline.replyDeadline(ctx)
        guard deadline > 0, Monotonic.now <= RunDeadline.startBy(replyDeadline: deadline) else {
            refuse(&item, "the gate's reply deadline leaves no time to run the action")
            return .reply
        }
        guard action.kind == "shell_command" || action.kind == "network_request" else { return .now(deadline: deadline, slot: false) }
        let limit = policy?.agent(ctx.agentID)?.toolLimits.maxConcurrentRuns ?? ToolLimits().maxConcurrentRuns
        switch slots.admit(id: ctx.requestID, agent: ctx.agentID, agentLimit: limit, totalLimit: totalRunLimit,
                           startBy: RunDeadline.startBy(replyDeadline: deadline)) {
        case .start: return .now(deadline: deadline, slot: true)
        case .wait: return .wait(deadline: deadline)
        case let .refuse(why):
            refuse(&item, why)
            return .reply
        }
    }

    func refuse(_ item: inout WorkItem, _ why: String) {
        item.token = Self.refusedToken
        item.reason = "broker: \(why)"
        item.stage = "broker"
        item.constraints = nil
    }

    /// Gives back the places of items whose decisions could not be recorded.
    func unadmit(_ items: [WorkItem], _ plans: [RunPlan]) {
        for (item, plan) in zip(items, plans) {
            switch plan {
            case .now(_, true): slots.finished(agent: item.context.agentID)
            case .wait: _ = slots.cancel(id: item.context.requestID)
            default: break
            }
        }
    }

    func launch(_ run: PendingRun) {
        let ctx = run.item.context
        let id = ctx.requestID
        let agent = policy?.agent(ctx.agentID)
        let limits = agent?.toolLimits ?? ToolLimits()
        let done: (ToolRunner.Result) -> Void = { [unowned self] r in
            if run.slot { self.slots.finished(agent: ctx.agentID) }
            self.endedRuns.append(id)
            self.finish(run, r)
        }
        guard let root = runner, let action = ctx.action, let r = root.forAgent(ctx.agentID, mode: agent?.sandboxMode ?? .required,
                                                                                writablePaths: agent?.writablePaths ?? []) else {
            done(Self.failed("cannot prepare the agent workspace"))
            return
        }
        guard let killAt = RunDeadline.killAt(now: Monotonic.now, timeout: limits.timeoutSeconds, replyDeadline: run.deadline) else {
            done(Self.refusal("the gate's reply deadline leaves no time to run the action"))
            return
        }
        let budget = Frame.maxBody - run.prefix.utf8.count - OutputBudget.reserve
        switch r.start(action, constraints: run.item.constraints, allowedDestinations: agent?.allowedNetworkDestinations ?? [],
                       limits: limits, agentID: ctx.agentID, loop: loop, killAt: killAt, replyBudget: budget, onDone: done) {
        case let .done(result): done(result)
        case let .running(watch): activeRuns[id] = watch
        }
    }

    static func failed(_ why: String) -> ToolRunner.Result {
        ToolRunner.Result(json: .object([("error", .string(why)), ("executed", .bool(false))]), executed: false)
    }

    static func refusal(_ why: String) -> ToolRunner.Result {
        var r = failed(why)
        r.refusedToken = refusedToken
        return r
    }

    /// The outcome record and the reply of a run that ended (or was refused at the last step).
    func finish(_ run: PendingRun, _ r: ToolRunner.Result) {
        let ctx = run.item.context
        var token = run.item.token
        var body: [UInt8]
        if let refused = r.refusedToken {
            token = refused
            body = Array("SIGNAL: \(refused)\n".utf8)
        } else {
            body = Array((run.prefix + JSONWriter.write(r.json) + "\n").utf8)
            if body.count > Frame.maxBody {
                // Never a frame over the contract limit: the output budget should have prevented this.
                body = Array((run.prefix + JSONWriter.write(.object([("error", .string("result too large for a reply")),
                                                                     ("executed", .bool(r.executed))])) + "\n").utf8)
            }
        }
        let entry = AuditRecords.outcome(ctx, result: r.json, executed: r.executed, sandbox: r.sandbox,
                                         sandboxMissing: r.sandboxMissing, replyToken: r.refusedToken)
        noteSandbox(ctx.agentID, r)
        finishedRuns.append(FinishedRun(id: ctx.requestID, token: token, body: body, entry: entry))
    }

    /// Starts waiting runs that have a place now; refuses those that can no longer finish in time.
    func pumpRunQueue() {
        guard !slots.waiting.isEmpty else { return }
        let (start, expired) = slots.next(now: Monotonic.now, totalLimit: totalRunLimit)
        for w in expired {
            if let run = waitingRuns.removeValue(forKey: w.id) {
                finish(run, Self.refusal("no tool run slot became free before the gate's reply deadline"))
            }
        }
        for w in start {
            guard var run = waitingRuns.removeValue(forKey: w.id) else { slots.finished(agent: w.agent); continue }
            run.slot = true
            launch(run)
        }
    }

    /// While runs wait, the loop wakes often enough to start or refuse them on time.
    func armRunQueue() {
        guard !slots.waiting.isEmpty, !queueTimerArmed else { return }
        queueTimerArmed = true
        loop.after(0.1) { [unowned self] in
            self.queueTimerArmed = false
            self.armRunQueue()
        }
    }

    /// Records the outcomes gathered so far, then sends their replies.
    func recordFinished() {
        guard !finishedRuns.isEmpty else { return }
        let outcomes = finishedRuns
        finishedRuns.removeAll()
        if appendDurably(outcomes.map(\.entry), timestamp: UInt64(time(nil))) {
            for f in outcomes { reply(f.id, f.token, f.body) }
        } else {
            backlog(outcomes.map(\.entry))
            for f in outcomes { reply(f.id, "DENY_AUDIT_UNAVAILABLE", Array("SIGNAL: DENY_AUDIT_UNAVAILABLE\n".utf8)) }
        }
    }

    /// Outcomes that can no longer be recorded before their replies (no audit log, a failed seal).
    func failFinished(_ why: String) {
        let outcomes = finishedRuns
        finishedRuns.removeAll()
        backlog(outcomes.map(\.entry))
        for f in outcomes { reply(f.id, "DENY_AUDIT_UNAVAILABLE", Array("SIGNAL: DENY_AUDIT_UNAVAILABLE\n".utf8)) }
    }

    /// Appends what the backlog holds and then `entries`, durably. A failure is reported (status, so
    /// /healthz) and leaves the caller to keep its entries; the first success after one clears it.
    func appendDurably(_ entries: [AuditEntryParts], timestamp: UInt64) -> Bool {
        guard let audit else { return false }
        var all = backlog
        if backlogDropped > 0 {
            all.append(AuditRecords.event("AuditBacklogDropped", signals: ["component=jg-broker"],
                                          details: [("dropped_entries", .integer(.signed(Int64(backlogDropped))))]))
        }
        all += entries
        do { _ = try audit.append(all, timestamp: timestamp) } catch {
            if auditError != error.description {
                auditError = error.description
                report()
            }
            return false
        }
        backlog.removeAll()
        backlogDropped = 0
        if auditError != nil {
            auditError = nil
            Log.info("audit log writable again: appended \(all.count) entries, \(all.count - entries.count) held while it was not")
            report()
        }
        return true
    }

    /// Keeps entries that could not be written, for the next append; bounded (the oldest go first, and
    /// how many went is recorded).
    func backlog(_ entries: [AuditEntryParts]) {
        backlog += entries
        if backlog.count > Self.backlogLimit {
            let drop = backlog.count - Self.backlogLimit
            backlog.removeFirst(drop)
            backlogDropped += drop
        }
    }

    /// The record of a request answered DENY_AUDIT_UNAVAILABLE because its decision could not be written.
    func unavailableRecord(_ item: WorkItem, _ why: String) -> AuditEntryParts {
        AuditRecords.decision(item.context, token: "DENY_AUDIT_UNAVAILABLE", reason: "audit log unavailable: \(why)", stage: "broker")
    }

    /// At shutdown: runs still going are killed (their outcomes are not waited for).
    func killActiveRuns() -> Int {
        for (_, w) in activeRuns { w.terminate() }
        return activeRuns.count
    }
}
