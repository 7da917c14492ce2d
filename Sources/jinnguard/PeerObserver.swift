import Glibc
import JGGateCore
import JGIPC

/// The gate's eyes on its peers. The gate runs unprivileged and cannot read another uid's /proc/PID/exe
/// or ns/pid; the supervisor can. The gate names the process by pid and start time; the start time is
/// read again after the links, so a pid reused meanwhile by another process is never reported as the peer.
enum PeerObserver {
    static let ownPidNamespace = PeerObservation.readLink("/proc/self/ns/pid")

    /// Answers one `observePeer`; nil for a malformed request (which breaks the control link).
    static func answer(_ r: inout LinkReader) -> LinkWriter? {
        guard let id = r.u64(), let pid64 = r.i64(), let start = r.u64(), r.atEnd,
              let pid = Int32(exactly: pid64), pid > 0 else { return nil }
        let view = observe(pid: pid, startTime: start)
        var w = LinkWriter(type: ControlRequest.peerObservation.rawValue)
        w.u64(id); w.i64(Int64(pid)); w.u64(start)
        w.optString(view.executable); w.optString(view.pidNamespace); w.bool(view.inOtherPidNamespace)
        return w
    }

    static func observe(pid: Int32, startTime: UInt64) -> PeerView {
        guard PeerObservation.startTime(pid) == startTime else { return .unreadable }
        let exe = PeerObservation.readLink("/proc/\(pid)/exe")
        let ns = PeerObservation.readLink("/proc/\(pid)/ns/pid")
        // Exited, or the pid now names another process: what was read may not be the peer's.
        guard PeerObservation.startTime(pid) == startTime else { return .unreadable }
        return PeerView(executable: exe, pidNamespace: ns, inOtherPidNamespace: ns != nil && ns != ownPidNamespace)
    }
}
