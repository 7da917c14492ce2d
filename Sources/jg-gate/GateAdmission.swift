import JGGateCore
import JGIPC

/// The gate's side of Admission (JGGateCore): which connections may be evicted, and the accept hook.
extension GateServer {
    /// Accepted connections taken per loop iteration before the others are served.
    static let acceptBurst = 512

    /// Only connections between requests (or with one half sent) may be evicted; one being decided, or
    /// with its reply still being written, keeps its slot.
    func isIdle(_ fd: Int32) -> Bool {
        guard let cid = table.connection(fd: fd), let c = table.client(cid) else { return true }
        switch c.state {
        case .header, .body: return true
        case .observing, .waiting, .closing: return false
        }
    }

    /// False: refused (the caller closes it). An evicted connection is closed here.
    func admit(_ fd: Int32, _ peer: PeerCredentials) -> Bool {
        switch admission.admit(fd: fd, uid: peer.uid, isIdle: { [unowned self] in self.isIdle($0) }) {
        case .refuse: return false
        case .admit: return true
        case .admitEvicting(let victim):
            if let cid = table.connection(fd: victim) { closeClient(cid) }
            return true
        }
    }
}
