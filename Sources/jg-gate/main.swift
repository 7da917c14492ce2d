import Glibc
import JGGateCore
import JGIPC
import JGSandbox

// jg-gate: the agent socket. Unprivileged; parses frames, envelopes and proposals; never executes
// anything and never touches the audit log. fd 3 = control link, fd 4 = listening socket, fd 5 = lineage file.
Log.name = "jg-gate"
signal(SIGPIPE, SIG_IGN)

let identity: ComponentIdentity
switch ComponentIdentity.fromCommandLine() {
case .success(let i): identity = i
case .failure(let e): Log.error("\(e)"); exit(2)
}

let loop = EventLoop()
let control: ControlChannel
do { control = try ControlChannel(component: .gate, loop: loop) } catch {
    Log.error("\(error)"); exit(2)
}
let listener = OwnedFD(adopting: 4)
let lineageFile = OwnedFD(adopting: 5)
_ = fcntl(4, F_SETFD, FD_CLOEXEC)
_ = fcntl(5, F_SETFD, FD_CLOEXEC)

do {
    try Sandbox.enterGate(identity)
} catch {
    Log.error("cannot drop privileges: \(error)")
    exit(2)
}

let gate = GateServer(loop: loop, listener: listener, lineage: LineageStore(file: lineageFile), control: control)
control.onConfigure = { policy, settings in gate.configure(policy: policy, settings: settings) }
control.onLink = { peer, fd in gate.link(peer, fd) }
control.reportReady()
loop.run()
