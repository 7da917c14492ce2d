import Glibc
import JGIPC
import JGJSON
import JGPolicy
import JGProverCore
import JGSandbox

// jg-prover: one Z3 context for the life of the process; checks each request's invariants and the
// ceiling against daemon-authoritative values, then hands the verdict to the broker. fd 3 = control link.
Log.name = "jg-prover"
signal(SIGPIPE, SIG_IGN)

let identity: ComponentIdentity
switch SystemdComponent.identity(.prover) {
case .success(let i): identity = i
case .failure(let e): Log.error("\(e)"); exit(2)
}
// Under systemd: the control link (and descriptors) from the rendezvous, the agent socket from systemd.
do { try SystemdComponent.attachIfStarted(.prover) } catch { Log.error("\(error)"); exit(2) }
let args = ComponentIdentity.strip(CommandLine.arguments)

// `jg-prover sandbox-selftest EMPTY_DIR --run-as=UID:GID`: enter exactly the sandbox the running prover
// uses, then try what it must not be able to do, and print each errno. Tests run it to prove the
// confinement, not just read it.
if args.count == 3 && args[1] == "sandbox-selftest" {
    do {
        try ProverSandbox.enter(emptyRoot: args[2], as: identity)
        try ProverSandbox.lockDown()
    } catch {
        print("sandbox: failed: \(error)")
        exit(2)
    }
    func attempt(_ name: String, _ rc: Int32) {
        let e = errno
        print("\(name): \(rc >= 0 ? "ALLOWED" : "denied errno=\(e)")")
        if rc >= 0 { close(rc) }
    }
    attempt("open /etc/passwd", open("/etc/passwd", O_RDONLY))
    attempt("open /proc/self/status", open("/proc/self/status", O_RDONLY))
    attempt("socket AF_INET", socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0))
    attempt("socket AF_UNIX", socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0))
    attempt("fork", { let p = fork(); if p == 0 { _exit(0) }; return p > 0 ? 0 : -1 }())
    print("uid=\(getuid()) euid=\(geteuid())")
    exit(0)
}

let loop = EventLoop()
let control: ControlChannel
do { control = try ControlChannel(component: .prover, loop: loop) } catch { Log.error("\(error)"); exit(2) }

let prover = ProverServer(loop: loop)
var sandboxed = false
var lockedDown = false
control.onConfigure = { policy, settings in
    if !sandboxed {
        // The empty root is known only from the settings; confine before the first policy is parsed.
        let root = (try? JSONParser.parse(settings))?["empty_root"]?.stringValue
        do { try ProverSandbox.enter(emptyRoot: root, as: identity) } catch { return (false, "cannot sandbox: \(error)") }
        sandboxed = true
    }
    let r = prover.configure(policy: policy)
    if r.0 && !lockedDown {
        do { try ProverSandbox.lockDown() } catch { return (false, "cannot load seccomp filter: \(error)") }
        lockedDown = true
    }
    return r
}
control.onLink = { peer, fd in prover.link(peer, fd) }
prover.linkBroken = { control.linkBroken($0) }
// An orderly stop (`systemctl restart jg-prover`, the supervisor's SIGTERM): no request the prover took is
// left without its decision. The gate's further checks fail at once (it answers them itself); what it sent
// before is decided, and every decision and notice is written out before the process ends. Without this,
// SIGTERM's default action could drop a decision queued for the broker after the gate was told it had
// been handed on, and that request waited for the gate's full reply deadline.
let stopSignals: SignalSource
do { stopSignals = try SignalSource(signals: [SIGTERM, SIGINT]) } catch { Log.error("\(error)"); exit(2) }
loop.register(stopSignals.fd.raw, events: Int16(POLLIN)) { _ in
    guard !stopSignals.drain().isEmpty else { return }
    prover.stop()
    exit(0)
}
control.reportReady()
loop.run()
