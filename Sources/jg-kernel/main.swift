import CBPF
import JGSandbox
import Glibc
import JGIPC
import JGJSON

// jg-kernel: owns the BPF plane. Keeps CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN only, probes which planes
// really load and attach here, and reports exactly that. fd 3 = control link.
Log.name = "jg-kernel"
signal(SIGPIPE, SIG_IGN)

let CAP_NET_ADMIN: Int32 = 12, CAP_PERFMON: Int32 = 38, CAP_BPF: Int32 = 39
do { try Capabilities.keepOnly([CAP_NET_ADMIN, CAP_PERFMON, CAP_BPF]) } catch { Log.error("\(error)"); exit(2) }
try? Privileges.noNewPrivileges()

let loop = EventLoop()
let control: ControlChannel
do { control = try ControlChannel(component: .kernel, loop: loop) } catch { Log.error("\(error)"); exit(2) }

let planes = KernelPlanes.probe()
for p in planes.entries { Log.info("plane \(p.name): \(p.active ? "active" : "inactive (\(p.reason))")") }

var broker: LinkEndpoint?
control.onConfigure = { _, _, _ in
    control.reportStatus(planes.json)
    return (true, planes.entries.map { "\($0.name)=\($0.active ? "active" : "inactive")" }.joined(separator: " "))
}
control.onLink = { peer, fd in
    guard peer == .broker, let ep = try? LinkEndpoint(peer: peer, fd: fd, loop: loop) else { return }
    broker?.close()
    broker = ep
    ep.onMessage = { [unowned ep] r throws(LinkProtocolError) in
        guard BrokerToKernel(rawValue: r.type) == .planesRequest, r.atEnd else {
            throw LinkProtocolError(link: "broker→kernel", reason: "unexpected message \(r.type)")
        }
        var w = LinkWriter(type: KernelToBroker.planes.rawValue)
        w.string(planes.json)
        ep.send(w)
    }
}
control.reportReady()
loop.run()
