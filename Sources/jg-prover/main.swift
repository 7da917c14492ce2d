import Glibc
import JGIPC
import JGJSON
import JGPolicy
import JGProverCore

// jg-prover: one Z3 context for the life of the process; checks each request's invariants and the
// ceiling against daemon-authoritative values, then hands the verdict to the broker. fd 3 = control link.
Log.name = "jg-prover"
signal(SIGPIPE, SIG_IGN)

let loop = EventLoop()
let control: ControlChannel
do { control = try ControlChannel(component: .prover, loop: loop) } catch { Log.error("\(error)"); exit(2) }

let prover = ProverServer(loop: loop)
var sandboxed = false
var lockedDown = false
control.onConfigure = { text, name, settings in
    if !sandboxed {
        // The empty root is known only from the settings; confine before the first policy is parsed.
        let root = (try? JSONParser.parse(settings))?["empty_root"]?.stringValue
        do { try ProverSandbox.enter(emptyRoot: root) } catch { return (false, "cannot sandbox: \(error)") }
        sandboxed = true
    }
    let r = prover.configure(text: text, name: name)
    if r.0 && !lockedDown {
        do { try ProverSandbox.lockDown() } catch { return (false, "cannot load seccomp filter: \(error)") }
        lockedDown = true
    }
    return r
}
control.onLink = { peer, fd in prover.link(peer, fd) }
control.reportReady()
loop.run()
