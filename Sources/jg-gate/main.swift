import Glibc
import JGGateCore
import JGIPC
import JGSandbox

// jg-gate: the agent socket. Unprivileged; parses frames, envelopes and proposals; never executes
// anything and never touches the audit log. fd 3 = control link, fd 4 = listening socket, fd 5 = lineage file.
Log.name = "jg-gate"
signal(SIGPIPE, SIG_IGN)

let identity: ComponentIdentity
switch SystemdComponent.identity(.gate) {
case .success(let i): identity = i
case .failure(let e): Log.error("\(e)"); exit(2)
}
// Under systemd: the control link (and descriptors) from the rendezvous, the agent socket from systemd.
do { try SystemdComponent.attachIfStarted(.gate) } catch { Log.error("\(error)"); exit(2) }

let loop = EventLoop()
let control: ControlChannel
do { control = try ControlChannel(component: .gate, loop: loop) } catch {
    Log.error("\(error)"); exit(2)
}
let listener = OwnedFD(adopting: 4)
let lineageFile = OwnedFD(adopting: 5)
_ = fcntl(4, F_SETFD, FD_CLOEXEC)
_ = fcntl(5, F_SETFD, FD_CLOEXEC)

// Enough descriptors for every connection the caps allow, raised while the gate may still raise them.
var admissionLimits = Admission.Limits.from(environment: { getenv($0).map { String(cString: $0) } })
let descriptors = Admission.raiseDescriptorLimit(for: admissionLimits)
if descriptors < admissionLimits.descriptorsNeeded {
    // Past the descriptor limit accept fails and the backlog stalls for everyone: cap below it instead.
    admissionLimits = Admission.Limits(perUID: admissionLimits.perUID, total: max(64, descriptors - 256))
    Log.warn("RLIMIT_NOFILE is \(descriptors): at most \(admissionLimits.total) agent connections")
}

let drainSignals = GateDrain.prepare()
do {
    try Sandbox.enterGate(identity)
} catch {
    Log.error("cannot drop privileges: \(error)")
    exit(2)
}

let gate = GateServer(loop: loop, listener: listener, lineage: LineageStore(file: lineageFile), control: control)
gate.admission = Admission(limits: admissionLimits)
GateDrain.arm(drainSignals, gate: gate, loop: loop)
control.onConfigure = { policy, settings in gate.configure(policy: policy, settings: settings) }
control.onLink = { peer, fd in gate.link(peer, fd) }
control.onPeerObservation = { r in gate.peerObserved(&r) }
control.onRequest = { type, r, fd in gate.controlRequest(type, &r, fd) }
control.reportReady()
loop.run()
