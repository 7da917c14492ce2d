import Glibc
import JGIPC

/// Under systemd a restart of jg-gate is SIGTERM to it while jinnguard.socket keeps listening: the gate
/// stops accepting (new connections wait in the socket's backlog for the next gate), answers its open
/// connections, and exits once none is left or after `limit` seconds. Under `jinnguard run` the
/// supervisor stops everything at once and SIGTERM keeps its default action.
enum GateDrain {
    static let limit = 3.0

    /// Before the sandbox: the signalfd is made while the gate may still make one.
    static func prepare() -> SignalSource? {
        guard SystemdComponent.active else { return nil }
        return try? SignalSource(signals: [SIGTERM, SIGINT])
    }

    static func arm(_ term: SignalSource?, gate: GateServer, loop: EventLoop) {
        guard let term else { return }
        loop.register(term.fd.raw, events: Int16(POLLIN)) { _ in
            guard !term.drain().isEmpty else { return }
            loop.unregister(gate.listener.raw)
            let deadline = Monotonic.now + limit
            Log.info("stopping: no new connections; \(gate.table.clientCount) connection(s), \(gate.table.requestCount) request(s) in flight")
            func check() {
                // Connections too, not only requests: one accepted whose frame is still arriving is answered.
                if (gate.table.requestCount == 0 && gate.table.clientCount == 0) || Monotonic.now >= deadline { exit(0) }
                loop.after(0.01) { check() }
            }
            check()
        }
    }
}
