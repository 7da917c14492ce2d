import JGSandbox
import Glibc
import JGIPC
import JGJSON
import JGBrokerCore

// jg-broker: the only component that acts on the world and the only one that writes the audit chain.
// fd 3 = control link, fd 6 = the state directory, fd 7 = the audit log's directory when elsewhere (O_PATH).
Log.name = "jg-broker"
signal(SIGPIPE, SIG_IGN)

// The broker runs as its own user (the only one that can read the audit files and signing key) and keeps
// only what running tools as another user needs: CAP_CHOWN (the workspace), CAP_KILL (tool process
// groups), CAP_SETGID and CAP_SETUID (dropping to the tool user). Not dumpable: it holds the signing key.
let identity: ComponentIdentity
switch SystemdComponent.identity(.broker) {
case .success(let i): identity = i
case .failure(let e): Log.error("\(e)"); exit(2)
}
// Under systemd: the control link (and descriptors) from the rendezvous, the agent socket from systemd.
do { try SystemdComponent.attachIfStarted(.broker) } catch { Log.error("\(error)"); exit(2) }
// Under systemd the tool runs' cgroups live in the broker's own delegated subtree.
if SystemdComponent.active {
    do { try DelegatedCgroup.enter() } catch { Log.warn("tool runs get no cgroup of their own: \(error)") }
}
do {
    try Capabilities.become(identity, keeping: [0, 5, 6, 7])
    try Privileges.notDumpable()
} catch { Log.error("\(error)"); exit(2) }

// The state directory (and the audit log's) as handed over (DirectoryHandle): never passed on to a tool.
for fd in [DirectoryHandle.brokerStateFD, DirectoryHandle.brokerAuditFD] { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

let loop = EventLoop()
let control: ControlChannel
do { control = try ControlChannel(component: .broker, loop: loop) } catch { Log.error("\(error)"); exit(2) }
let broker = BrokerServer(loop: loop, control: control)
control.onConfigure = { policy, settings in broker.configure(policy: policy, settings: settings) }
control.onLink = { peer, fd in broker.link(peer, fd) }
// The supervisor's own audit records (an operator's counter reset).
control.onRequest = { type, r, _ in
    // An operator's `jinnguard approve|reject` (BrokerHolds.swift), answered with holdDecided.
    if type == .holdDecision {
        guard let tag = r.u64(), let id = r.string(), let approve = r.bool(), let uid = r.u32(), let pid = r.i64(), r.atEnd else { return false }
        let (ok, message) = broker.decideHold(id: id, approve: approve, uid: uid, pid: pid)
        var w = LinkWriter(type: ControlReport.holdDecided.rawValue)
        w.u64(tag); w.bool(ok); w.string(message)
        control.send(w)
        return true
    }
    guard type == .auditEvent, let kind = r.string(), let agent = r.string(), let text = r.string(), r.atEnd,
          case let .object(details)? = try? JSONParser.parse(text) else { return false }
    broker.events.append(AuditRecords.agentEvent(kind, agent: agent, source: "jinnguard", details: details))
    return true
}
let term = try? SignalSource(signals: [SIGTERM, SIGINT])
if let term {
    loop.register(term.fd.raw, events: Int16(POLLIN)) { _ in
        _ = term.drain()
        broker.shutdown()
        exit(0)
    }
}
control.reportReady()
loop.run()
