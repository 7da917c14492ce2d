import Glibc

/// One end of a component link in an event loop: frames in, typed messages out. Any malformed frame or
/// message breaks the link (closed, `onClose` called) — never skipped.
public final class LinkEndpoint {
    public let peer: Component
    private let conn: StreamConnection
    private unowned let loop: EventLoop
    public private(set) var isOpen = true
    /// Handles one message; throwing breaks the link.
    public var onMessage: (inout LinkReader) throws(LinkProtocolError) -> Void = { _ throws(LinkProtocolError) in }
    public var onClose: () -> Void = {}
    /// Runs after `onClose` when the link broke by itself (end of file, a malformed frame or message, a
    /// failed write), not when its owner closed it: the component tells the supervisor, which re-pairs.
    public var onBreak: () -> Void = {}
    /// Runs before any of this link's queued output is written: state that must be on disk before a
    /// message about it leaves (the gate's lineage journal) is written here.
    public var beforeWrite: () -> Void = {}
    /// What the peer may send us (PermitTable), checked before any handler sees a message.
    private var permits: PermitChecker

    public init(peer: Component, fd: OwnedFD, loop: EventLoop) throws(SystemError) {
        self.peer = peer
        self.permits = PermitChecker(from: .component(peer), to: LinkPermits.local)
        self.conn = try StreamConnection(fd: fd)
        self.loop = loop
        loop.register(fd.raw, events: Int16(POLLIN)) { [weak self] ev in self?.handle(ev) }
    }

    private func handle(_ ev: Int16) {
        if ev & Int16(POLLOUT) != 0 && !writeQueued() { return }
        if ev & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0 {
            readLoop: while isOpen {
                switch conn.readAvailable(limit: linkMaxBody + Frame.headerSize) {
                case .data:
                    do {
                        while isOpen, let body = try conn.nextFrame(maxBody: linkMaxBody) {
                            guard var r = LinkReader(body: body) else { throw LinkProtocolError(link: peer.rawValue, reason: "empty message") }
                            try permits.admit(r.type)
                            try onMessage(&r)
                        }
                    } catch {
                        Log.error("link \(peer.rawValue): \(error); closing")
                        fail()
                    }
                    // The event loop is level-triggered: anything that arrives later wakes us again.
                    if conn.lastReadDrained { break readLoop }
                case .wouldBlock: break readLoop
                case .eof:
                    Log.warn("link \(peer.rawValue) lost: end of file")
                    fail(); break readLoop
                case .failed:
                    Log.warn("link \(peer.rawValue) lost: read failed")
                    fail(); break readLoop
                }
            }
        }
    }

    private func updateInterest() {
        guard isOpen else { return }
        loop.setEvents(conn.fd.raw, Int16(POLLIN) | (conn.hasPendingOutput ? Int16(POLLOUT) : 0))
    }

    /// Queued link output written at once rather than at the end of the iteration: about four decision
    /// contexts. (64 clients, `make bench`-style runs: about 19,000–21,000 decisions/s with slices of 1–2 KiB
    /// against 16,000–18,000 with one write per iteration; the single-client path never reaches it.)
    static let earlyFlushBytes = 2048

    /// Queues one message; it is written with everything else queued in this loop iteration.
    /// Returns false when the link is closed.
    @discardableResult
    public func send(_ w: LinkWriter) -> Bool {
        guard isOpen else { return false }
        conn.queueFrame(body: w.bytes)
        // Under load an iteration can queue hundreds of messages; handing them on in slices lets the next
        // component start on the first ones while this one works through the rest (two cores, three stages).
        if conn.pendingOutputCount >= Self.earlyFlushBytes { return writeQueued() }
        // Registered once per iteration, not per message: a closure and a dictionary entry each time cost
        // about as much as the message's encoding.
        if !flushScheduled {
            flushScheduled = true
            loop.flushAtEndOfIteration(self) { [weak self] in
                guard let self else { return }
                self.flushScheduled = false
                if self.isOpen && self.conn.hasPendingOutput { _ = self.writeQueued() }
            }
        }
        return true
    }
    private var flushScheduled = false

    /// Writes what is queued (as much as the socket takes; the rest waits for POLLOUT). False, with the link
    /// closed, when the write failed.
    private func writeQueued() -> Bool {
        beforeWrite()
        if !conn.flush() { fail(); return false }
        updateInterest()
        return true
    }

    /// Queues one message and writes it at once (with anything queued before it), for a message that must
    /// be on its way before the caller goes on.
    @discardableResult
    public func sendNow(_ w: LinkWriter) -> Bool {
        guard isOpen else { return false }
        conn.queueFrame(body: w.bytes)
        return writeQueued()
    }

    /// Reads and dispatches this link's messages (nothing else's) until `done()` or `timeout` seconds: for
    /// the rare request that must have its answer before the caller goes on. Returns `done()`.
    public func pump(timeout: Double, until done: () -> Bool) -> Bool {
        let deadline = Monotonic.now + timeout
        while isOpen && !done() {
            let left = deadline - Monotonic.now
            if left <= 0 { break }
            var p = pollfd(fd: conn.fd.raw, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, Int32(max(1, left * 1000))) > 0 { handle(p.revents) }
        }
        return done()
    }

    /// Sends one message with a descriptor attached (SCM_RIGHTS). Queued output is flushed first so the
    /// message cannot land inside another frame; waits at most 2 s for the socket to drain.
    @discardableResult
    public func sendPassing(_ w: LinkWriter, fd: OwnedFD) -> Bool {
        guard isOpen else { return false }
        let deadline = Monotonic.now + 2
        beforeWrite()
        while true {
            if !conn.flush() { fail(); return false }
            if !conn.hasPendingOutput {
                do {
                    try Sockets.send(w.frame, passing: fd, over: conn.fd)
                    return true
                } catch where error.errno == EAGAIN || error.errno == EWOULDBLOCK {
                } catch {
                    fail(); return false
                }
            }
            guard Monotonic.now < deadline else { fail(); return false }
            var p = pollfd(fd: conn.fd.raw, events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, 100)
        }
    }

    /// For an orderly stop: the peer's next write fails at once (it sees the link go and answers for
    /// itself), while everything it sent before is still read and handled here. The link stays open for
    /// what the handlers queue (`flushAll`); the end of the peer's data is not a break.
    public func receiveRemaining(timeout: Double) {
        guard isOpen else { return }
        _ = shutdown(conn.fd.raw, Int32(SHUT_RD))
        let deadline = Monotonic.now + timeout
        while isOpen {
            switch conn.readAvailable(limit: linkMaxBody + Frame.headerSize) {
            case .data:
                do {
                    while isOpen, let body = try conn.nextFrame(maxBody: linkMaxBody) {
                        guard var r = LinkReader(body: body) else { throw LinkProtocolError(link: peer.rawValue, reason: "empty message") }
                        try permits.admit(r.type)
                        try onMessage(&r)
                    }
                } catch {
                    Log.error("link \(peer.rawValue): \(error); closing")
                    fail(); return
                }
            case .wouldBlock:
                guard Monotonic.now < deadline else { return }
                var p = pollfd(fd: conn.fd.raw, events: Int16(POLLIN), revents: 0)
                _ = poll(&p, 1, 50)
            case .eof, .failed:
                return
            }
        }
    }

    /// Writes everything queued, waiting for the socket at most `timeout` seconds: the last thing a
    /// stopping component does, so that nothing it decided is lost in its own buffer.
    @discardableResult
    public func flushAll(timeout: Double) -> Bool {
        let deadline = Monotonic.now + timeout
        while isOpen && conn.hasPendingOutput {
            beforeWrite()
            if !conn.flush() { fail(); return false }
            guard conn.hasPendingOutput else { break }
            guard Monotonic.now < deadline else { return false }
            var p = pollfd(fd: conn.fd.raw, events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, 50)
        }
        return isOpen
    }

    private func fail() {
        guard isOpen else { return }
        close()
        onBreak()
    }

    public func close() {
        guard isOpen else { return }
        isOpen = false
        loop.unregister(conn.fd.raw)
        conn.fd.close()
        onClose()
    }
}

/// The component side of the control link (fd 3): configuration and link descriptors from the
/// supervisor, status reports back. Descriptors arrive with SCM_RIGHTS and are owned at once.
public final class ControlChannel {
    public static let inheritedFD: Int32 = 3
    private let fd: OwnedFD
    private var input: [UInt8] = []
    private var fds: [OwnedFD] = []
    private unowned let loop: EventLoop
    public let component: Component
    /// The policy in its canonical JSON form (JGPolicy.CanonicalPolicy) and the component's settings (JSON).
    public var onConfigure: (_ policy: String, _ settings: String) -> (Bool, String) = { _, _ in (false, "not ready") }
    public var onLink: (Component, OwnedFD) -> Void = { _, _ in }
    /// The gate's answer to `observePeer`; false (the default, for every other component) breaks the link.
    public var onPeerObservation: (inout LinkReader) -> Bool = { _ in false }
    /// The requests a component takes beyond configure and link (resetCounter, lineageCompact, auditEvent),
    /// with the descriptor attached to it if any; false breaks the link.
    public var onRequest: (ControlRequest, inout LinkReader, OwnedFD?) -> Bool = { _, _, _ in false }
    /// The supervisor is gone: components exit rather than run unsupervised.
    public var onClose: () -> Void = { exit(0) }
    /// Links received per peer: a broken link is reported only if no newer one came meanwhile.
    private var linkSeq: [Component: UInt64] = [:]
    private var permits: PermitChecker
    /// How long a broken link waits for its replacement before it is reported: when a peer restarts, the
    /// new link is usually already on its way.
    public static let linkLostDelay = 0.2

    public init(component: Component, loop: EventLoop, fd: Int32 = ControlChannel.inheritedFD) throws(SystemError) {
        self.component = component
        self.permits = PermitChecker(from: .supervisor, to: .component(component))
        self.fd = OwnedFD(adopting: fd)
        self.loop = loop
        guard fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 else { throw SystemError("fcntl(FD_CLOEXEC)") }
        loop.register(fd, events: Int16(POLLIN)) { [weak self] _ in self?.readable() }
        SystemdNotify.startWatchdog(loop)
    }

    private func readable() {
        var buf = [UInt8](repeating: 0, count: 64 * 1024)
        let n: Int
        let got: OwnedFD?
        do { (n, got) = try Sockets.receive(into: &buf, from: fd) } catch { onClose(); return }
        if n == 0 { onClose(); return }
        if let got { fds.append(got) }
        input.append(contentsOf: buf[0..<n])
        while input.count >= Frame.headerSize {
            guard case let .body(len) = Frame.checkHeader(input.prefix(Frame.headerSize), maxBody: linkMaxBody) else {
                Log.error("bad control frame"); onClose(); return
            }
            guard input.count >= Frame.headerSize + len else { break }
            let body = Array(input[Frame.headerSize..<Frame.headerSize + len])
            input.removeFirst(Frame.headerSize + len)
            guard var r = LinkReader(body: body), dispatch(&r) else {
                Log.error("bad control message"); onClose(); return
            }
        }
    }

    private func dispatch(_ r: inout LinkReader) -> Bool {
        do { try permits.admit(r.type) } catch { Log.error("\(error)"); return false }
        switch ControlRequest(rawValue: r.type) {
        case .configure:
            guard let policy = r.string(), let settings = r.string(), r.atEnd else { return false }
            let (ok, msg) = onConfigure(policy, settings)
            // Under systemd (Type=notify) ready means linked and configured: the links sent before the
            // configuration came first on this channel.
            if ok { SystemdNotify.ready(status: "configured: \(msg)") }
            var w = LinkWriter(type: ControlReport.configured.rawValue)
            w.bool(ok); w.string(msg)
            send(w)
            return true
        case .link:
            guard let name = r.string(), r.atEnd, let peer = Component(rawValue: name), !fds.isEmpty else { return false }
            linkSeq[peer, default: 0] &+= 1
            onLink(peer, fds.removeFirst())
            return true
        case .ping:
            // Answered here, from the component's own event loop: a stopped or stalled loop misses it.
            guard let nonce = r.u64(), r.atEnd else { return false }
            var w = LinkWriter(type: ControlReport.pong.rawValue)
            w.u64(nonce)
            send(w)
            return true
        case .peerObservation:
            return onPeerObservation(&r)
        case .handoff?, .handoffDone?:
            return false
        case .resetCounter?:
            return onRequest(.resetCounter, &r, nil)
        case .auditEvent?:
            return onRequest(.auditEvent, &r, nil)
        case .lineageCompact?:
            return onRequest(.lineageCompact, &r, fds.isEmpty ? nil : fds.removeFirst())
        case .holdDecision?:
            return onRequest(.holdDecision, &r, nil)
        case .serve?:
            return onRequest(.serve, &r, nil)
        case .statsNow?:
            return onRequest(.statsNow, &r, nil)
        case nil:
            return false
        }
    }

    /// A report the supervisor does not get (ready, status, a hold's decision) would leave it deciding
    /// on a stale picture: a failed send is the supervisor gone, handled as when the link reads EOF.
    public func send(_ w: LinkWriter) {
        do { try Sockets.send(w.frame, passing: nil, over: fd) } catch {
            Log.error("control link: \(error); the supervisor is unreachable")
            onClose()
        }
    }

    public func reportReady() {
        var w = LinkWriter(type: ControlReport.ready.rawValue)
        w.string(component.rawValue); w.u32(UInt32(getpid()))
        send(w)
    }

    /// The link with `peer` broke by itself: unless a new one arrives within `linkLostDelay`, the
    /// supervisor is told, and re-pairs (or restarts a component). A dead link is never left dead.
    public func linkBroken(_ peer: Component) {
        let seen = linkSeq[peer, default: 0]
        loop.after(Self.linkLostDelay) { [weak self] in
            guard let self, self.linkSeq[peer, default: 0] == seen else { return }
            Log.warn("link with \(peer.rawValue) lost; asking the supervisor for a new one")
            var w = LinkWriter(type: ControlReport.linkLost.rawValue)
            w.string(peer.rawValue)
            w.u64(seen)
            self.send(w)
        }
    }

    public func reportStatus(_ json: String) {
        var w = LinkWriter(type: ControlReport.status.rawValue)
        w.string(json)
        send(w)
    }
}
