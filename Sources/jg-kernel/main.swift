import CBPF
import JGSandbox
import Glibc
import JGIPC
import JGJSON
import JGPolicy

// jg-kernel: owns the BPF plane. Loads the real objects of bpf/ (pinned under /sys/fs/bpf/jinnguard/<instance>),
// reports exactly which planes are active, governs cgroups for the broker (cgroup id → agent, each agent's
// denied destinations and directories from the policy) and drains exec/open/connect telemetry.
// Keeps CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN only. fd 3 = control link.
//   jg-kernel detach [INSTANCE]   break-glass (root): force-detach and unpin everything (see Detach.swift)
Log.name = "jg-kernel"
signal(SIGPIPE, SIG_IGN)

if CommandLine.arguments.count >= 2 && CommandLine.arguments[1] == "detach" {
    // Break-glass, run by root by hand: no component identity.
    exit(Detach.run(instance: CommandLine.arguments.count >= 3 ? CommandLine.arguments[2] : nil))
}

let identity: ComponentIdentity
switch SystemdComponent.identity(.kernel) {
case .success(let i): identity = i
case .failure(let e): Log.error("\(e)"); exit(2)
}
// Under systemd: the control link (and descriptors) from the rendezvous, the agent socket from systemd.
do { try SystemdComponent.attachIfStarted(.kernel) } catch { Log.error("\(error)"); exit(2) }

// bpffs must be mounted to pin anything; that needs CAP_SYS_ADMIN, held only until the drop below. The pin
// tree is handed to our own user while we can still chown (pins left by an earlier run included).
let bpffsProblem = KernelPaths.prepareBPFFS(owner: identity)
if let bpffsProblem { Log.warn(bpffsProblem) }

// The BPF objects may sit below directories only root can search (a clone in /root): open their directory
// now, and load them through this descriptor once we are jg-kernel.
let objectDirectory = ObjectDirectory.openWhileRoot()

let CAP_NET_ADMIN: Int32 = 12, CAP_PERFMON: Int32 = 38, CAP_BPF: Int32 = 39
do {
    try Capabilities.become(identity, keeping: [CAP_NET_ADMIN, CAP_PERFMON, CAP_BPF])
    try Privileges.noNewPrivileges()
    try Privileges.notDumpable()
} catch { Log.error("\(error)"); exit(2) }
jg_bpf_set_logging(0)

let loop = EventLoop()
let control: ControlChannel
do { control = try ControlChannel(component: .kernel, loop: loop) } catch { Log.error("\(error)"); exit(2) }

@MainActor final class KernelState {
    var paths: KernelPaths?
    var planes: KernelPlanes?
    var governance: Governance?
    var telemetry: Telemetry?
    var broker: LinkEndpoint?
    var gate: LinkEndpoint?
    /// The broker asked for planes before they were loaded: answer once they are.
    var planesOwed = false
    /// Decoy file names of the policy's canaries (kept for a telemetry started after configuration).
    var canaryNames: Set<String> = []
    /// The broker audits `event` batches (KernelToBroker.event is part of its message set).
    var brokerTakesEvents = true

    var planesJSON: String { planes?.json ?? KernelPlanes.inactiveAll(errno: EAGAIN, reason: "not configured yet").json }

    func sendPlanes() {
        guard let b = broker else { return }
        var w = LinkWriter(type: KernelToBroker.planes.rawValue)
        w.string(planesJSON)
        b.send(w)
    }

    /// First configuration: load the objects from settings.bpf_dir, adopt pins, open maps, start telemetry.
    func start(bpfDir: String, stateDir: String) {
        let p = KernelPaths(instance: KernelPaths.instanceName(stateDir: stateDir), cgroupBase: KernelPaths.cgroupBase(),
                            systemd: SystemdCgroups.find())
        paths = p
        let loaded: KernelPlanes
        if let bpffsProblem {
            loaded = KernelPlanes.inactiveAll(errno: EPERM, reason: bpffsProblem)
        } else {
            loaded = KernelPlanes.load(bpfDir: bpfDir, paths: p)
        }
        planes = loaded
        Log.info("instance \(p.instance): pins \(p.pinRoot), cgroup \(p.cgroupDir ?? "none"), agents \(p.agentsDir ?? "none")"
                 + (p.systemd.map { ", also attached to \($0.slice), broker runs \($0.brokerRuns)" } ?? ""))
        for e in loaded.entries {
            if e.active { Log.info("plane \(e.name): active (\(e.reason))") }
            else { Log.warn("plane \(e.name): inactive: errno \(e.errno): \(e.reason)") }
        }
        if loaded.entries.contains(where: \.active), let maps = BPFMaps(pinRoot: p.pinRoot) {
            let g = Governance(maps: maps, paths: p)
            g.pruneVanished()
            governance = g
            if let t = Telemetry(governance: g) {
                t.canaryNames = canaryNames
                telemetry = t
                loop.register(t.fd, events: Int16(POLLIN)) { [unowned self] _ in self.drainEvents() }
            }
        } else {
            Log.warn("no plane active: no cgroup is governed, nothing is enforced by jg-kernel")
        }
        if planesOwed { planesOwed = false; sendPlanes() }
        // libbpf parses the kernel's BTF (megabytes) to relocate the objects and frees it after loading; those
        // large blocks raise glibc's dynamic trim threshold, so the heap would keep them (~11 MiB) for the
        // process's life: give them back once, here.
        ResidentMemory.releaseFreePages()
    }

    func drainEvents() {
        guard let t = telemetry else { return }
        _ = t.drain(queueForBroker: brokerTakesEvents && broker?.isOpen == true)
        flushEvents()
    }

    /// Everything waiting goes out in one batch per loop turn; a missing broker never slows the kernel side.
    func flushEvents() {
        if let t = telemetry {
            let denied = t.takeDenials()
            let tripped = t.takeTripwires()
            if let g = gate, g.isOpen {
                for ev in tripped {
                    var w = LinkWriter(type: KernelToGate.canaryTripwire.rawValue)
                    w.string(ev.agent); w.u32(ev.pid); w.string(ev.detail)
                    if !g.send(w) { break }
                }
                for ev in denied {
                    var w = LinkWriter(type: KernelToGate.denial.rawValue)
                    w.string(ev.agent); w.string(ev.kind); w.string(ev.detail)
                    if !g.send(w) { break }
                }
            }
        }
        guard let t = telemetry, let b = broker, b.isOpen, brokerTakesEvents else { return }
        for ev in t.takePending() {
            var w = LinkWriter(type: KernelToBroker.event.rawValue)
            w.string(ev.kind); w.u64(ev.cgroupID); w.u32(ev.pid); w.string(ev.detail)
            if !b.send(w) { break }
        }
    }

    var statusJSON: String {
        var fields: [(String, JSONValue)] = [("planes", (try? JSONParser.parse(planesJSON)) ?? .null)]
        if let g = governance {
            fields += [
                ("instance", .string(paths?.instance ?? "")),
                ("governed_cgroups", .integer(.signed(Int64(g.governed.count)))),
                ("generation", .integer(.signed(Int64(g.generation)))),
                ("denied", .integer(.unsigned(g.counter(UInt32(JG_STAT_DENIED.rawValue))))),
                ("events_kernel", .integer(.unsigned(g.counter(UInt32(JG_STAT_EVENTS.rawValue))))),
                ("events_dropped_kernel", .integer(.unsigned(g.counter(UInt32(JG_STAT_DROPPED.rawValue))))),
                ("events_received", .integer(.unsigned(telemetry?.received ?? 0))),
                ("events_dropped_user", .integer(.unsigned(telemetry?.droppedUser ?? 0))),
            ]
        }
        return JSONWriter.write(.object(fields))
    }

    /// Orderly stop of the whole daemon (SIGTERM from the supervisor): take our enforcement down with us.
    /// A crash or kill -9 leaves the pins, and the next jg-kernel adopts them.
    func teardown() {
        guard let p = paths else { return }
        let n = removePinTree(p.pinRoot, detachLinks: true)
        rmdir(p.pinRoot)
        if let dir = p.cgroupDir { Detach.removeEmptyCgroups(dir) }
        Log.info("stopped: \(n) pin(s) of instance \(p.instance) removed, links detached")
    }
}

let state = KernelState()

control.onConfigure = { canonical, settingsText in
    let policy: Policy
    do { policy = try CanonicalPolicy.decode(canonical) } catch { return (false, "policy: \(error)") }
    if state.paths == nil {
        guard let s = try? JSONParser.parse(settingsText), let bpfDir = s["bpf_dir"]?.stringValue,
              let stateDir = s["state_dir"]?.stringValue else {
            return (false, "settings need bpf_dir and state_dir")
        }
        let envDir = getenv("JINNGUARD_BPF_DIR").map { String(cString: $0) }
        state.start(bpfDir: objectDirectory.path(for: envDir ?? bpfDir), stateDir: stateDir)
    }
    state.canaryNames = Set(policy.canaryResources.compactMap { r in
        r.split(separator: "/").last.map { String($0).lowercased() }
    })
    state.telemetry?.canaryNames = state.canaryNames
    var notes: [String] = []
    if let g = state.governance {
        do {
            notes += try g.apply(policy)
        } catch {
            Log.error("policy rules not applied: \(error)")
            return (false, "policy rules not applied: \(error)")
        }
        notes += g.governAgentDirectories()
        notes.forEach { Log.warn($0) }
        Log.info("policy \(policy.sourceName): rules generation \(g.generation), \(g.governed.count) governed cgroup(s)")
    }
    control.reportStatus(state.statusJSON)
    let summary = state.planes?.entries.map { "\($0.name)=\($0.active ? "active" : "inactive")" }.joined(separator: " ") ?? ""
    return (true, summary + (notes.isEmpty ? "" : " (\(notes.count) warning(s))"))
}

control.onLink = { peer, fd in
    if peer == .gate, let ep = try? LinkEndpoint(peer: peer, fd: fd, loop: loop) {
        ep.onBreak = { control.linkBroken(peer) }
        state.gate?.close()
        state.gate = ep
        ep.onMessage = { r throws(LinkProtocolError) in
            throw LinkProtocolError(link: "gate→kernel", reason: "no message allowed in this direction (\(r.type))")
        }
        return
    }
    guard peer == .broker, let ep = try? LinkEndpoint(peer: peer, fd: fd, loop: loop) else { return }
    ep.onBreak = { control.linkBroken(peer) }
    state.broker?.close()
    state.broker = ep
    state.brokerTakesEvents = true
    ep.onMessage = { r throws(LinkProtocolError) in
        switch BrokerToKernel(rawValue: r.type) {
        case .planesRequest:
            guard r.atEnd else { throw LinkProtocolError(link: "broker→kernel", reason: "malformed planesRequest") }
            if state.planes == nil { state.planesOwed = true } else { state.sendPlanes() }
        case .govern, .release:
            let isGovern = r.type == BrokerToKernel.govern.rawValue
            guard let path = r.string() else { throw LinkProtocolError(link: "broker→kernel", reason: "malformed govern/release") }
            let agent = isGovern ? r.string() : ""
            guard let agent, r.atEnd else { throw LinkProtocolError(link: "broker→kernel", reason: "malformed govern/release") }
            state.brokerTakesEvents = true
            // Before a run's cgroup is released (its tool has exited), what it did is drained: a decoy it
            // opened reaches the gate before the broker's reply for that run does.
            if !isGovern { state.drainEvents() }
            let res: Governance.Result
            if let g = state.governance {
                res = isGovern ? g.govern(path: path, agent: agent) : g.release(path: path)
            } else {
                res = Governance.Result(ok: false, cgroupID: 0, message: "no BPF plane is active here; nothing can be governed")
            }
            (res.ok ? Log.info : Log.warn)("\(isGovern ? "govern" : "release") \(path)\(isGovern ? " as \(agent)" : ""): \(res.message)")
            var w = LinkWriter(type: KernelToBroker.governed.rawValue)
            w.bool(res.ok); w.u64(res.cgroupID); w.string(res.message)
            ep.send(w)
        case nil:
            throw LinkProtocolError(link: "broker→kernel", reason: "unexpected message \(r.type)")
        }
    }
}

let signals: SignalSource
do { signals = try SignalSource(signals: [SIGTERM, SIGINT]) } catch { Log.error("\(error)"); exit(2) }
loop.register(signals.fd.raw, events: Int16(POLLIN)) { _ in
    if !signals.drain().isEmpty {
        state.drainEvents()
        // Under systemd a stop is most often `systemctl restart jg-kernel`: the pins stay, so the links keep
        // enforcing, and the next jg-kernel adopts them (its programs replace the old ones in place). Nothing
        // is left without rules in between. `jg-kernel detach` removes them by hand (docs/deployment.md).
        if SystemdComponent.active {
            Log.info("stopped: pins of instance \(state.paths?.instance ?? "?") kept for the next jg-kernel")
        } else {
            state.teardown()
        }
        exit(0)
    }
}

@MainActor func every(_ seconds: Double, _ action: @escaping () -> Void) {
    loop.after(seconds) { action(); every(seconds, action) }
}
every(0.1) { state.drainEvents() }
every(10) { control.reportStatus(state.statusJSON) }
every(30) { state.governance?.pruneVanished() }

control.reportReady()
loop.run()
