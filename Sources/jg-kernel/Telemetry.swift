import CBPF
import Glibc
import JGIPC

/// Drains the ring buffer of exec/open/connect events and denials from governed cgroups (polled in the
/// event loop: enforcement never waits on it), attributes each to its agent, logs it and queues it for
/// the broker. The kernel side counts records it could not reserve (ring full); this side counts events
/// it had to drop (broker queue full).
final class Telemetry {
    struct Event { var kind: String; var cgroupID: UInt64; var pid: UInt32; var agent: String; var detail: String }

    private let rb: OpaquePointer
    let fd: Int32
    private unowned let governance: Governance
    private var buffer = [jg_event](repeating: jg_event(), count: 256)
    private(set) var pending: [Event] = []
    /// Denials for the gate (they raise the agent's observed risk), whatever the broker does.
    private(set) var denials: [Event] = []
    /// Opens of a canary decoy by an agent's process, for the gate (CanaryTripwire).
    private(set) var tripwires: [Event] = []
    /// Lower-cased file names of the policy's canary decoys (the last component of each resource).
    var canaryNames: Set<String> = []
    static let pendingCap = 4096
    private(set) var received: UInt64 = 0
    private(set) var droppedUser: UInt64 = 0
    private var logWindowStart = Monotonic.now
    private var loggedInWindow = 0
    private var suppressed = 0
    static let logPerSecond = 200

    init?(governance: Governance) {
        var err: Int32 = 0
        guard let rb = jg_bpf_ringbuf_new(governance.maps.events.raw, &err) else {
            Log.error("ring buffer: \(KernelPaths.errnoText(-err))")
            return nil
        }
        self.rb = rb
        self.fd = jg_bpf_ringbuf_fd(rb)
        self.governance = governance
    }

    deinit { jg_bpf_ringbuf_free(rb) }

    static func kindName(_ k: UInt32) -> String {
        switch Int(k) {
        case Int(JG_EV_EXEC.rawValue): return "exec"
        case Int(JG_EV_OPEN.rawValue): return "open"
        case Int(JG_EV_CONNECT.rawValue): return "connect"
        case Int(JG_EV_DENY_CONNECT.rawValue): return "deny_connect"
        case Int(JG_EV_DENY_SENDMSG.rawValue): return "deny_sendmsg"
        case Int(JG_EV_DENY_OPEN.rawValue): return "deny_open"
        case Int(JG_EV_DENY_EXEC.rawValue): return "deny_exec"
        case Int(JG_EV_DENY_CREATE.rawValue): return "deny_create"
        case Int(JG_EV_DENY_UNLINK.rawValue): return "deny_unlink"
        case Int(JG_EV_DENY_MOUNT.rawValue): return "deny_mount"
        case Int(JG_EV_CAPABLE.rawValue): return "capable"
        case Int(JG_EV_REFUSED.rawValue): return "refused"
        case Int(JG_EV_SECCOMP_KILL.rawValue): return "seccomp_kill"
        default: return "kind\(k)"
        }
    }

    /// "a.b.c.d:port" / "[x::y]:port" from the record's sockaddr bytes.
    static func address(_ d: [UInt8], kind: UInt32) -> String {
        guard d.count >= 24 else { return "?" }
        let family = UInt16(d[0]) | UInt16(d[1]) << 8
        let port = UInt16(d[2]) << 8 | UInt16(d[3])
        var text = [CChar](repeating: 0, count: 64)
        if family == UInt16(AF_INET) {
            // connect telemetry carries a sockaddr_in (address at 4); denials carry it IPv4-mapped at 8.
            let a = kind == UInt32(JG_EV_CONNECT.rawValue) ? Array(d[4..<8]) : Array(d[20..<24])
            _ = a.withUnsafeBytes { inet_ntop(AF_INET, $0.baseAddress, &text, 64) }
            return "\(CText.string(text)):\(port)"
        }
        if family == UInt16(AF_INET6) {
            let a = Array(d[8..<24])
            _ = a.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress, &text, 64) }
            return "[\(CText.string(text))]:\(port)"
        }
        return "family \(family)"
    }

    static func decode(_ e: jg_event, agent: String) -> Event {
        let bytes = withUnsafeBytes(of: e.detail) { Array($0) }
        let kind = kindName(e.kind)
        var detail: String
        switch kind {
        case "connect", "deny_connect", "deny_sendmsg": detail = address(bytes, kind: e.kind)
        case "capable": detail = "cap=\(e.aux)"
        case "refused": detail = "agent=\(agent) " + Refusal.describe(nr: e.aux, detail: bytes)
        case "seccomp_kill":
            let arch = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
            detail = "agent=\(agent) arch=0x\(String(arch, radix: 16)) syscall=\(e.aux)"
        default:
            let n = bytes.firstIndex(of: 0) ?? bytes.count
            detail = String(decoding: bytes[..<n], as: UTF8.self)
        }
        if detail.isEmpty { detail = "-" }
        return Event(kind: kind, cgroupID: e.cgroup_id, pid: e.pid, agent: agent, detail: detail)
    }

    /// Read what is waiting (bounded per call, so the loop stays responsive). Returns new events.
    func drain(queueForBroker: Bool) -> Int {
        var total = 0
        for _ in 0..<8 {
            let n = buffer.withUnsafeMutableBufferPointer { jg_bpf_ringbuf_drain(rb, $0.baseAddress, Int32($0.count)) }
            guard n > 0 else { break }
            for i in 0..<Int(n) {
                let ev = Self.decode(buffer[i], agent: governance.agentName(slot: buffer[i].slot))
                received += 1
                log(ev)
                if ev.kind.hasPrefix("deny_"), !ev.agent.isEmpty, denials.count < Self.pendingCap { denials.append(ev) }
                if ev.kind == "open", !ev.agent.isEmpty, tripwires.count < Self.pendingCap, isCanary(ev.detail) { tripwires.append(ev) }
                if queueForBroker {
                    if pending.count < Self.pendingCap { pending.append(ev) } else { droppedUser += 1 }
                }
            }
            total += Int(n)
            if Int(n) < buffer.count { break }
        }
        return total
    }

    /// The path's last component against the decoy names, in any case (a file system may fold case).
    func isCanary(_ path: String) -> Bool {
        guard !canaryNames.isEmpty else { return false }
        let last = path.split(separator: "/").last.map(String.init) ?? path
        return canaryNames.contains(last.lowercased())
    }

    func takeTripwires() -> [Event] {
        defer { tripwires.removeAll(keepingCapacity: true) }
        return tripwires
    }

    func takeDenials() -> [Event] {
        defer { denials.removeAll(keepingCapacity: true) }
        return denials
    }

    func takePending() -> [Event] {
        defer { pending.removeAll(keepingCapacity: true) }
        return pending
    }

    private func log(_ ev: Event) {
        let now = Monotonic.now
        if now - logWindowStart >= 1 {
            if suppressed > 0 { Log.info("\(suppressed) event log line(s) suppressed (events still counted and sent)") }
            logWindowStart = now; loggedInWindow = 0; suppressed = 0
        }
        guard loggedInWindow < Self.logPerSecond else { suppressed += 1; return }
        loggedInWindow += 1
        Log.info("event kind=\(ev.kind) agent=\(ev.agent) cgroup=\(ev.cgroupID) pid=\(ev.pid) detail=\(ev.detail)")
    }
}
