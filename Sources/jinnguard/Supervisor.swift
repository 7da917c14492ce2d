import CJGSys
import Glibc
import JGCrypto
import JGIPC
import JGJSON
import JGPolicy
import JGProverCore
import JGSandbox

/// Starts the four components as separate executables linked by socketpairs, hands each its link ends
/// with SCM_RIGHTS over its control link, and restarts any one of them without touching the others.
final class Supervisor {
    struct Settings {
        var socketPath: String
        var socketMode: mode_t
        var lineageFile: String
        var auditLog: String
        var policyFile: String
        var stateDir: String
        var metricsPort: UInt16?
        var keys: KeyLoader
        var toolUIDRange: ClosedRange<UInt32> = ToolAccounts.defaultRange
        /// Under systemd (`jinnguard rendezvous`): the components are units, not children; they connect
        /// here (Rendezvous.swift), and the agent socket is systemd's (jinnguard.socket).
        var rendezvous: String?
    }

    /// Which components talk to which (DESIGN.md §2).
    static let links: [(Component, Component)] = [(.gate, .prover), (.prover, .broker), (.gate, .broker), (.broker, .kernel),
                                                  (.kernel, .gate)]

    final class Child {
        let component: Component
        var pid: pid_t = 0
        var control: LinkEndpoint?
        var configured = false
        var status: JSONValue = .object([])
        var startedAt = 0.0
        var restarts = 0
        var backoff = 0.05
        var liveness = Liveness(now: 0)
        var killedForLiveness = false
        init(_ c: Component) { component = c }
    }

    let settings: Settings
    let loop = EventLoop()
    var children: [Component: Child] = [:]
    var listener: OwnedFD!
    var lineage: OwnedFD!
    /// jg-broker's way to its directories (DirectoryHandle): the state directory and, when the audit log
    /// lives elsewhere, its directory, opened O_PATH and handed over at fixed numbers.
    var brokerState: OwnedFD!
    var brokerAuditDir: OwnedFD?
    var policy: Policy!
    /// `policy` as the components receive it (CanonicalPolicy): they link no YAML parser.
    var canonicalPolicy = ""
    var keySettings = ""
    /// `jinnguard keys` requests waiting for the gate, and the next rotated key's expiry (KeyOperations.swift).
    var keyOps = KeyOperations()
    /// Analysis warnings of the running policy: logged, and audited by the broker.
    var policyWarnings: [String] = []
    /// Journal compaction and the operator socket (LineageOperations.swift).
    let lineageOps = LineageOperations()

    func setWarnings(_ w: [Finding], log: Bool = true) {
        policyWarnings = w.map { $0.formatted(file: settings.policyFile) }
        if log { for line in policyWarnings { Log.warn("policy: \(line)") } }
    }

    /// jg-kernel's status carries its planes under "planes" (and counters beside them).
    var kernelPlanes: JSONValue {
        guard let s = children[.kernel]?.status else { return .object([]) }
        return s["planes"] ?? s
    }
    var signals: SignalSource!
    /// Each component's own system user (ComponentUsers) and the cgroup subtree delegated to them.
    var users: ComponentUsers!
    var cgroups: KernelDelegation?
    var metrics: MetricsServer?
    var shuttingDown = false
    var announcedReady = false
    let binDir: String
    /// Per-agent tool uids and size-limited workspaces (WorkspacePreparer.swift).
    let workspaces: WorkspacePreparer
    var linkRepairs = LinkRepairs()
    var lastLivenessTick = 0.0
    /// status.json as last written: rewritten on every change, and only then.
    var lastStatusText = ""
    var rendezvousListener: OwnedFD?

    init(settings: Settings) {
        self.settings = settings
        workspaces = WorkspacePreparer(stateDir: settings.stateDir, range: settings.toolUIDRange)
        binDir = Supervisor.executableDir()
        for c in Component.allCases { children[c] = Child(c) }
    }

    static func executableDir() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        let path = n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "."
        return String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
    }

    struct StartError: Error, CustomStringConvertible { var description: String }

    /// Everything that can fail at start fails here, with one line, before any component runs.
    func prepare() throws {
        // First of all: threads started later (Z3 starts one) inherit this mask, so a SIGTERM can only
        // arrive through the signalfd and never kill the supervisor by default action.
        signals = try SignalSource(signals: [SIGCHLD, SIGTERM, SIGINT, SIGHUP])
        for c in Component.allCases where settings.rendezvous == nil && access(binDir + "/" + c.rawValue, X_OK) != 0 {
            throw StartError(description: "component executable \(binDir)/\(c.rawValue) not found")
        }
        users = try ComponentUsers.ensure()
        let (p, warnings) = try PolicyCheck.loadAnalyzed(path: settings.policyFile)
        try users.refuseOverlap(agentUIDs: p.runtime.allowedPeerUIDs + p.agents.flatMap(\.allowedPeerUIDs))
        canonicalPolicy = try PolicyCheck.canonicalForm(p)
        policy = p
        // Logged once start-up cannot fail any more: a refused start says one line.
        setWarnings(warnings, log: false)
        let (keys, source) = try settings.keys.load()
        keySettings = KeyLoader.settingsJSON(keys)
        Log.info("HMAC key from \(source)")
        try StateLayout.tighten(state: settings.stateDir, policyFile: settings.policyFile, lineageFile: settings.lineageFile,
                                auditLog: settings.auditLog, broker: users[.broker])
        brokerState = try StateLayout.reach(settings.stateDir, as: users[.broker], W_OK | X_OK, what: "reach the state directory")
        let auditDir = StateLayout.auditDirectory(settings.auditLog)
        if auditDir != settings.stateDir {
            brokerAuditDir = try StateLayout.reach(auditDir, as: users[.broker], W_OK | X_OK, what: "write the audit log's directory")
        }
        let lfd = open(settings.lineageFile, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard lfd >= 0 else { throw SystemError("open lineage file \(settings.lineageFile)") }
        lineage = OwnedFD(adopting: lfd)
        if settings.rendezvous == nil {
            listener = try Sockets.listenUnix(path: settings.socketPath, mode: settings.socketMode)
        } else {
            try openRendezvous()
        }
        try openOperatorSocket()
        // jg-kernel and jg-broker are not root: delegate them the cgroup subtree they govern and fill.
        cgroups = KernelDelegation.prepare(stateDir: settings.stateDir, users: users)
        if let port = settings.metricsPort {
            metrics = try MetricsServer(port: port, loop: loop, health: { [unowned self] in self.health() })
            metrics?.details = { [unowned self] in
                .object([("kernel_planes", self.kernelPlanes), ("degraded", .array(self.degraded().map { .string($0) })),
                         ("components", .object(Component.allCases.map { c in
                             (c.rawValue, .object([("pid", .integer(.signed(Int64(self.children[c]?.pid ?? 0)))),
                                                   ("restarts", .integer(.signed(Int64(self.children[c]?.restarts ?? 0)))),
                                                   ("responsive", .bool(self.responsive(c)))]))
                         }))])
            }
            metrics?.refresh = { [unowned self] in self.askGateForStats(nonce: $0) }
        }
        // Last: the workspaces are mounted only once nothing else can refuse the start (a refused start
        // leaves nothing mounted behind).
        do { try workspaces.prepare(p) } catch {
            workspaces.unmountAll()
            throw StartError(description: "workspaces: \(error)")
        }
    }

    func run() -> Int32 {
        for line in policyWarnings { Log.warn("policy: \(line)") }
        loop.register(signals.fd.raw, events: Int16(POLLIN)) { [unowned self] _ in self.handleSignals() }
        if settings.rendezvous != nil {
            startRendezvous()
        } else {
            for c in [Component.broker, .kernel, .prover, .gate] { spawn(c) }
        }
        statusTick()
        startLiveness()
        scheduleKeyExpiry()
        // Start-up must finish in bounded time, or it fails with the reason (under systemd each unit has
        // its own start timeout, and units may come later).
        loop.after(60) { [unowned self] in
            if !self.announcedReady && self.settings.rendezvous == nil {
                Log.error("components did not become ready within 60 s")
                self.shutdown(code: 1)
            }
        }
        loop.run()
        return exitCode
    }

    var exitCode: Int32 = 0

    // MARK: components

    func spawn(_ c: Component) {
        guard !shuttingDown, let child = children[c] else { return }
        let (ours, theirs): (OwnedFD, OwnedFD)
        do { (ours, theirs) = try Sockets.pair() } catch { Log.error("\(error)"); return }
        var from: [Int32] = [theirs.raw]
        var to: [Int32] = [ControlChannel.inheritedFD]
        if c == .gate {
            from += [listener.raw, lineage.raw]
            to += [4, 5]
        }
        if c == .broker {
            from.append(brokerState.raw); to.append(DirectoryHandle.brokerStateFD)
            if let a = brokerAuditDir { from.append(a.raw); to.append(DirectoryHandle.brokerAuditFD) }
        }
        // Sources must not sit on the target numbers, or dup2 would keep close-on-exec set.
        var moved: [OwnedFD] = []
        for i in from.indices where from[i] <= 10 {
            guard let d = try? OwnedFD(adopting: from[i]).duplicateKeepingOriginal() else { continue }
            moved.append(d)
            from[i] = d.raw
        }
        let path = binDir + "/" + c.rawValue
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), strdup(users[c].argument), nil]
        defer { argv.forEach { free($0) } }
        let pid = jg_sys_spawn(path, &argv, from, to, Int32(from.count))
        theirs.close()
        guard pid > 0 else {
            Log.error("cannot start \(c.rawValue): \(String(cString: strerror(errno)))")
            loop.after(child.backoff) { [unowned self] in self.spawn(c) }
            child.backoff = min(child.backoff * 2, 5)
            return
        }
        if c == .broker { cgroups?.place(brokerPid: pid) }
        adopt(c, pid: pid, control: ours)
    }

    /// A started component (our child, or a unit that came through the rendezvous): its control link,
    /// its links to the running peers, its configuration.
    func adopt(_ c: Component, pid: pid_t, control ours: OwnedFD) {
        guard let child = children[c] else { return }
        child.pid = pid
        // A new gate's status is its own: until it reports, it is not serving (checkReady tells it to).
        if c == .gate { child.status = .object([]) }
        child.startedAt = Monotonic.now
        child.configured = false
        child.liveness = Liveness(now: Monotonic.now)
        child.killedForLiveness = false
        linkRepairs.started(c)
        Log.info("started \(c.rawValue) pid \(pid)")
        do {
            let ep = try LinkEndpoint(peer: c, fd: ours, loop: loop)
            ep.onMessage = { [unowned self] r throws(LinkProtocolError) in try self.report(from: c, &r) }
            // Under systemd the unit's end of the control link is how we learn it is gone.
            if settings.rendezvous != nil { ep.onBreak = { [unowned self] in self.unitGone(c, pid: pid) } }
            child.control = ep
        } catch {
            Log.error("control link of \(c.rawValue): \(error)")
            return
        }
        for (a, b) in Self.links where a == c || b == c {
            let other = a == c ? b : a
            guard let o = children[other], o.pid > 0, o.control?.isOpen == true else { continue }
            connect(a, b)
        }
        sendConfigure(c)
        writeStatus()
    }

    /// A fresh socketpair for one link, one end to each side. False when either end could not be sent.
    @discardableResult
    func connect(_ a: Component, _ b: Component) -> Bool {
        guard let ca = children[a]?.control, let cb = children[b]?.control, let (ea, eb) = try? Sockets.pair() else { return false }
        linkRepairs.sent(to: a, peer: b)
        linkRepairs.sent(to: b, peer: a)
        let ok = sendLink(ca, peer: b, fd: ea)
        return sendLink(cb, peer: a, fd: eb) && ok
    }

    func sendLink(_ ep: LinkEndpoint, peer: Component, fd: OwnedFD) -> Bool {
        var w = LinkWriter(type: ControlRequest.link.rawValue)
        w.string(peer.rawValue)
        return ep.sendPassing(w, fd: fd)
    }

    func sendConfigure(_ c: Component) {
        guard let ep = children[c]?.control else { return }
        var w = LinkWriter(type: ControlRequest.configure.rawValue)
        w.string(canonicalPolicy)
        w.string(componentSettings(c))
        ep.send(w)
    }

    func componentSettings(_ c: Component) -> String {
        switch c {
        case .gate: return keySettings
        case .broker:
            let auditFD = brokerAuditDir == nil ? DirectoryHandle.brokerStateFD : DirectoryHandle.brokerAuditFD
            return JSONWriter.write(.object([("audit_log", .string(settings.auditLog)), ("state_dir", .string(settings.stateDir)),
                                             ("state_dir_access", .string(DirectoryHandle(name: settings.stateDir, fd: DirectoryHandle.brokerStateFD).access)),
                                             ("audit_dir_access", .string(DirectoryHandle(name: StateLayout.auditDirectory(settings.auditLog), fd: auditFD).access)),
                                             ("policy_warnings", .array(policyWarnings.map { .string($0) })),
                                             ("hidden_paths", .array(hiddenPaths.map { .string($0) }))] + workspaces.brokerSettings))
        case .prover:
            return JSONWriter.write(.object([("empty_root", .string(settings.stateDir + "/empty"))]))
        case .kernel:
            // BPF objects: built by `make bpf` next to the binaries, or where JINNGUARD_BPF_DIR points.
            let bpfDir = getenv("JINNGUARD_BPF_DIR").map { String(cString: $0) } ?? binDir + "/bpf"
            return JSONWriter.write(.object([("state_dir", .string(settings.stateDir)), ("bpf_dir", .string(bpfDir))]))
        }
    }

    func report(from c: Component, _ r: inout LinkReader) throws(LinkProtocolError) {
        guard let child = children[c] else { return }
        switch ControlReport(rawValue: r.type) {
        case .ready:
            guard let name = r.string(), name == c.rawValue, r.u32() != nil, r.atEnd else {
                throw LinkProtocolError(link: "control \(c.rawValue)", reason: "bad ready")
            }
        case .status:
            guard let text = r.string(), r.atEnd, let v = try? JSONParser.parse(text) else {
                throw LinkProtocolError(link: "control \(c.rawValue)", reason: "bad status")
            }
            child.status = v
            writeStatus()
            if c == .broker { metrics?.update(brokerStatus: v) }
            if c == .gate {
                if v["lineage_compact_wanted"] == .bool(true) { startCompaction() }
                metrics?.update(gateStatus: v)
                checkReady()
                // A prover that misses its deadline is hung (a solver cannot be interrupted from outside
                // any other way): restart it; requests meanwhile get DENY_PROVER_TIMEOUT.
                if v["prover_stalled"] == .bool(true), let p = children[.prover], p.pid > 0, Monotonic.now - p.startedAt > 1 {
                    Log.warn("jg-prover (pid \(p.pid)) missed its deadline; restarting it")
                    kill(p.pid, SIGKILL)
                }
            }
        case .configured:
            guard let ok = r.bool(), let msg = r.string(), r.atEnd else {
                throw LinkProtocolError(link: "control \(c.rawValue)", reason: "bad configured")
            }
            if ok {
                child.configured = true
                child.backoff = 0.05
                Log.info("\(c.rawValue) configured: \(msg)")
                writeStatus()
                checkReady()
                if c == .gate { keysTaken(ok: true) }
            } else {
                Log.error("\(c.rawValue) refused its configuration: \(msg)")
                if c == .gate { keysTaken(ok: false) }
                // Under systemd the unit stays unready (Type=notify) and its start times out; the others run on.
                if !announcedReady && settings.rendezvous == nil { shutdown(code: 1) }
            }
        case .lineageCompacted where c == .gate:
            guard let ok = r.bool(), let msg = r.string(), r.atEnd else {
                throw LinkProtocolError(link: "control \(c.rawValue)", reason: "bad lineageCompacted")
            }
            compacted(ok: ok, message: msg)
        case .counterReset where c == .gate:
            guard let tag = r.u64(), let agent = r.string(), let ok = r.bool(), let previous = r.u64(), let msg = r.string(), r.atEnd else {
                throw LinkProtocolError(link: "control \(c.rawValue)", reason: "bad counterReset")
            }
            counterReset(tag: tag, agent: agent, ok: ok, previous: previous, message: msg)
        case .pong:
            guard let nonce = r.u64(), r.atEnd else { throw LinkProtocolError(link: "control \(c.rawValue)", reason: "bad pong") }
            pong(from: c, nonce: nonce)
        case .linkLost:
            guard let name = r.string(), let seq = r.u64(), r.atEnd, let peer = Component(rawValue: name) else {
                throw LinkProtocolError(link: "control \(c.rawValue)", reason: "bad linkLost")
            }
            linkLost(reporter: c, peer: peer, seq: seq)
        case .observePeer:
            guard c == .gate, let w = PeerObserver.answer(&r) else {
                throw LinkProtocolError(link: "control \(c.rawValue)", reason: "bad observePeer")
            }
            child.control?.send(w)
        case .holdDecided where c == .broker:
            guard let tag = r.u64(), let ok = r.bool(), let msg = r.string(), r.atEnd else {
                throw LinkProtocolError(link: "control \(c.rawValue)", reason: "bad holdDecided")
            }
            holdDecided(tag: tag, ok: ok, message: msg)
        case nil, .lineageCompacted?, .counterReset?, .holdDecided?, .hello?:
            throw LinkProtocolError(link: "control \(c.rawValue)", reason: "unknown report \(r.type)")
        }
    }

    /// `<state>/status.json`: what `jinnguard status` reads — components, restarts, kernel planes, health.
    func writeStatus() {
        let (ok, why) = health()
        var comps: [(String, JSONValue)] = []
        for c in Component.allCases {
            guard let ch = children[c] else { continue }
            comps.append((c.rawValue, .object([("pid", .integer(.signed(Int64(ch.pid)))), ("configured", .bool(ch.configured)),
                                               ("restarts", .integer(.signed(Int64(ch.restarts)))), ("responsive", .bool(responsive(c)))])))
        }
        let v: JSONValue = .object([
            ("supervisor_pid", .integer(.signed(Int64(getpid())))), ("healthy", .bool(ok)), ("reason", .string(why)),
            ("socket", .string(settings.socketPath)), ("audit_log", .string(settings.auditLog)), ("policy", .string(settings.policyFile)),
            ("components", .object(comps)), ("kernel_planes", kernelPlanes),
            ("policy_warnings", .array(policyWarnings.map { .string($0) })),
            ("degraded", .array(degraded().map { .string($0) })),
        ])
        let text = JSONWriter.write(v) + "\n"
        guard text != lastStatusText else { return }
        let path = settings.stateDir + "/status.json"
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return }
        let b = Array(text.utf8)
        let okWrite = writeFully(fd, b)
        close(fd)
        if okWrite && rename(tmp, path) == 0 { lastStatusText = text }
    }

    func checkReady() {
        guard children.values.allSatisfy({ $0.configured }) else { return }
        // Ready means requests can be decided: the gate has reported both of its links up.
        guard let g = children[.gate]?.status, g["prover_linked"] == .bool(true), g["broker_linked"] == .bool(true) else { return }
        // Only now does the gate accept agent connections (a restarted gate too); earlier ones wait.
        if g["serving"] != .bool(true), let gate = children[.gate]?.control {
            gate.send(LinkWriter(type: ControlRequest.serve.rawValue))
        }
        guard !announcedReady else { return }
        announcedReady = true
        // What `jinnguard status` reads is current before anyone is told the daemon is ready.
        writeStatus()
        let pids = Component.allCases.map { "\($0.rawValue)=\(children[$0]!.pid)" }.joined(separator: " ")
        var line = "jinnguard: ready socket=\(settings.socketPath) audit=\(settings.auditLog) policy=\(settings.policyFile) "
        line += "lineage=\(settings.lineageFile) workspace=\(settings.stateDir)/workspace audit_pubkey=\(settings.stateDir)/audit-signing.pub pid=\(getpid()) \(pids)"
        if let port = settings.metricsPort { line += " metrics=http://127.0.0.1:\(port)/metrics" }
        print(line)
        print(FirstRequestHint.text(stateDir: settings.stateDir, socketPath: settings.socketPath, policy: policy))
        jg_sys_stdout_flush()
    }

    // MARK: signals

    func handleSignals() {
        for s in signals.drain() {
            switch s {
            case SIGCHLD: reap()
            case SIGHUP: reload()
            default: shutdown(code: 0)
            }
        }
    }

    func reap() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { break }
            guard let child = children.values.first(where: { $0.pid == pid }) else { continue }
            child.pid = 0
            child.configured = false
            child.control?.close()
            child.control = nil
            if child.component == .gate { gateLost() }
            let how = (status & 0x7f) == 0 ? "exited with status \((status >> 8) & 0xff)" : "was killed by signal \(status & 0x7f)"
            if shuttingDown { continue }
            child.restarts += 1
            // A component that dies right after starting is restarted with a growing delay.
            let quick = Monotonic.now - child.startedAt < 5
            let delay = quick ? child.backoff : 0.05
            if quick { child.backoff = min(child.backoff * 2, 5) }
            Log.warn("\(child.component.rawValue) (pid \(pid)) \(how); restarting in \(delay) s")
            let c = child.component
            loop.after(delay) { [unowned self] in self.spawn(c) }
        }
        writeStatus()
        if shuttingDown && children.values.allSatisfy({ $0.pid == 0 }) { loop.stopRequested = true }
    }

    func reload() {
        do {
            let (p, warnings) = try PolicyCheck.loadAnalyzed(path: settings.policyFile)
            try users.refuseOverlap(agentUIDs: p.runtime.allowedPeerUIDs + p.agents.flatMap(\.allowedPeerUIDs))
            canonicalPolicy = try PolicyCheck.canonicalForm(p)
            policy = p
            setWarnings(warnings)
            do { try workspaces.prepare(p) } catch { Log.error("SIGHUP: workspaces: \(error)") }
            if let (keys, _) = try? settings.keys.load() { keySettings = KeyLoader.settingsJSON(keys) } else { Log.error("SIGHUP: keys did not load, the running ones stay") }
            Log.info("SIGHUP: policy \(settings.policyFile) reloaded (\(p.agents.count) agents)")
            for c in Component.allCases where children[c]?.control != nil { sendConfigure(c) }
        } catch {
            Log.error("SIGHUP: new policy refused, the running one stays: \(error)")
        }
    }

    func shutdown(code: Int32) {
        guard !shuttingDown else { return }
        shuttingDown = true
        exitCode = code
        // The units are systemd's to stop: closing their control links tells them we are gone.
        if settings.rendezvous != nil { loop.stopRequested = true; return }
        Log.info("stopping components")
        // The gate first, so that no new request enters while the others finish.
        for c in [Component.gate, .prover, .kernel, .broker] {
            if let pid = children[c]?.pid, pid > 0 { kill(pid, SIGTERM) }
        }
        loop.after(10) { [unowned self] in
            for child in self.children.values where child.pid > 0 { kill(child.pid, SIGKILL) }
        }
        loop.after(12) { [unowned self] in self.loop.stopRequested = true }
        if children.values.allSatisfy({ $0.pid == 0 }) { loop.stopRequested = true }
    }

    func statusTick() {
        writeStatus()
        loop.after(1) { [unowned self] in self.statusTick() }
    }

    func cleanup() {
        if settings.rendezvous == nil { unlink(settings.socketPath) } else { closeRendezvous() }
        unlink(LineageOperations.socketPath(stateDir: settings.stateDir))
        unlink(settings.stateDir + "/status.json")
        workspaces.unmountAll()
        cgroups?.remove()
    }

    /// What no tool may see, whatever directory it sits in.
    var hiddenPaths: [String] {
        [settings.stateDir, settings.socketPath, settings.policyFile, settings.auditLog, settings.lineageFile]
            + [settings.keys.secretFile, settings.keys.defaultSecretFile, settings.keys.previousFile, settings.keys.agentDir].compactMap { $0 }
    }

    /// Healthy but degraded: sandbox layers a best_effort agent ran without, workspaces that could not be
    /// prepared (those agents' runs are refused).
    func degraded() -> [String] {
        var out: [String] = []
        if let b = children[.broker]?.status, case let .array(d)? = b["sandbox_degraded"] { out += d.compactMap(\.stringValue) }
        out += workspaces.errors.sorted { $0.key < $1.key }.map { "\($0.key): workspace unavailable: \($0.value)" }
        return out
    }

    // MARK: health

    func health() -> (Bool, String) {
        var problems: [String] = []
        for c in Component.allCases {
            guard let child = children[c], child.pid > 0, child.configured else { problems.append("\(c.rawValue) not running"); continue }
        }
        if let g = children[.gate]?.status {
            if g["prover_linked"] != .bool(true) { problems.append("jg-gate has no link to jg-prover") }
            if g["broker_linked"] != .bool(true) { problems.append("jg-gate has no link to jg-broker") }
        }
        problems += livenessProblems()
        if let b = children[.broker]?.status, case let .string(err)? = b["audit_error"] {
            problems.append("audit log not writable: \(err)")
        }
        if problems.isEmpty {
            // Healthy but degraded: requests are decided, some runs lack sandbox layers or are refused.
            let d = degraded()
            return (true, d.isEmpty ? "ok" : "degraded: " + d.joined(separator: "; "))
        }
        return (false, problems.joined(separator: "; "))
    }
}

extension OwnedFD {
    /// A close-on-exec duplicate above the fixed child descriptor numbers; the original stays open
    /// (this owner is released, not closed).
    func duplicateKeepingOriginal() throws(SystemError) -> OwnedFD {
        defer { _ = release() }
        let d = fcntl(raw, F_DUPFD_CLOEXEC, 11)
        guard d >= 0 else { throw SystemError("fcntl(F_DUPFD_CLOEXEC)") }
        return OwnedFD(adopting: d)
    }
}
