import CJGSys
import Glibc
import JGIPC

/// Under systemd (`jinnguard rendezvous`, jinnguard.service) the four components are units of their own:
/// systemd starts, restarts and kills them; this process still links them (DESIGN.md §2: socketpairs with
/// the 5-byte frame, handed out over each component's control link) and configures them. A starting unit
/// connects to `settings.rendezvous`; its first message names it (`hello`), and it is taken only when the
/// connection's SO_PEERCRED uid and gid are that component's own user and the pid is the one it names.
/// Then it gets what `jinnguard run` would have passed at exec (`handoff`: the gate's lineage file, the
/// broker's directory handles), and the connection becomes its control link: the same code from here on.
extension Supervisor {
    /// A hello must arrive within this; a connection that says nothing is dropped.
    static let helloTimeout = 1.0

    func openRendezvous() throws {
        guard let path = settings.rendezvous else { return }
        // Any local process may connect; only the four component users get past the hello.
        let l = try Sockets.listenUnix(path: path, mode: 0o666, backlog: 16)
        try l.setNonBlocking()
        rendezvousListener = l
        // What jg-kernel, never root under systemd, needs of bpffs (its pin base; systemd mounted bpffs).
        KernelDelegation.preparePinBase(kernel: users[.kernel])
    }

    func startRendezvous() {
        guard let l = rendezvousListener else { return }
        loop.register(l.raw, events: Int16(POLLIN)) { [unowned self] _ in
            while true {
                let fd = jg_sys_accept_nonblocking(l.raw)
                guard fd >= 0 else { break }
                self.handshake(OwnedFD(adopting: fd))
            }
        }
        SystemdNotify.open()
        SystemdNotify.ready(status: "waiting for the components on \(settings.rendezvous ?? "")")
        SystemdNotify.startWatchdog(loop)
    }

    func closeRendezvous() {
        if let p = settings.rendezvous { unlink(p) }
    }

    /// One connection: hello, credentials, handoff, adoption. Anything unexpected closes it, with one line.
    func handshake(_ conn: OwnedFD) {
        func refuse(_ why: String) { Log.warn("rendezvous: refused a connection: \(why)") }
        guard let cred = try? Sockets.peerCredentials(conn) else { return refuse("no SO_PEERCRED") }
        guard let body = readHello(conn), var r = LinkReader(body: body), r.type == ControlReport.hello.rawValue,
              let name = r.string(), let pid = r.u32(), r.atEnd, let c = Component(rawValue: name), let child = children[c] else {
            return refuse("pid \(cred.pid) uid \(cred.uid) sent no valid hello")
        }
        let id = users[c]
        guard cred.uid == id.uid, cred.gid == id.gid else {
            return refuse("pid \(cred.pid) says it is \(name) but runs as uid \(cred.uid) gid \(cred.gid), not \(id.uid):\(id.gid)")
        }
        guard Int32(bitPattern: pid) == cred.pid else { return refuse("\(name) names pid \(pid) but is pid \(cred.pid)") }
        if child.pid > 0 && child.pid != cred.pid {
            // systemd runs one main process per unit: a second one while the first lives is not ours.
            if kill(child.pid, 0) == 0 && child.control?.isOpen == true {
                return refuse("a second \(name) (pid \(cred.pid)) while pid \(child.pid) runs")
            }
            unitGone(c, pid: child.pid)
        }
        var handoffs: [(Int32, OwnedFD)] = []
        if c == .gate { handoffs.append((5, lineage)) }
        if c == .broker {
            handoffs.append((DirectoryHandle.brokerStateFD, brokerState))
            if let a = brokerAuditDir { handoffs.append((DirectoryHandle.brokerAuditFD, a)) }
        }
        do {
            for (target, fd) in handoffs {
                var w = LinkWriter(type: ControlRequest.handoff.rawValue)
                w.u32(UInt32(target))
                try Sockets.send(w.frame, passing: fd, over: conn)
            }
            try Sockets.send(LinkWriter(type: ControlRequest.handoffDone.rawValue).frame, passing: nil, over: conn)
            try conn.setNonBlocking()
        } catch {
            return refuse("handoff to \(name): \(error)")
        }
        Log.info("rendezvous: \(name) pid \(cred.pid) (uid \(cred.uid)) linked")
        child.backoff = 0.05
        adopt(c, pid: cred.pid, control: conn)
    }

    /// The hello frame, read with a deadline (the connection is still blocking).
    private func readHello(_ conn: OwnedFD) -> [UInt8]? {
        let deadline = Monotonic.now + Self.helloTimeout
        var input: [UInt8] = []
        while true {
            if input.count >= Frame.headerSize {
                guard case let .body(len) = Frame.checkHeader(input.prefix(Frame.headerSize), maxBody: 256) else { return nil }
                if input.count == Frame.headerSize + len { return Array(input[Frame.headerSize...]) }
                if input.count > Frame.headerSize + len { return nil }
            }
            let left = deadline - Monotonic.now
            guard left > 0 else { return nil }
            var p = pollfd(fd: conn.raw, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(max(1, left * 1000))) > 0 else { return nil }
            var buf = [UInt8](repeating: 0, count: 261 - input.count)
            let n = buf.withUnsafeMutableBytes { recv(conn.raw, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard n > 0 else { return nil }
            input += buf[0..<n]
        }
    }

    /// A unit's control link broke: it stopped, crashed or was killed. systemd restarts it (Restart=);
    /// the others keep running and wait for its new links.
    func unitGone(_ c: Component, pid: pid_t) {
        guard let child = children[c], child.pid == pid else { return }
        child.pid = 0
        child.configured = false
        child.control?.close()
        child.control = nil
        if c == .gate { gateLost() }
        if !shuttingDown { child.restarts += 1 }
        Log.warn("\(c.rawValue) (pid \(pid)) is gone; systemd restarts it")
        writeStatus()
    }
}

extension KernelDelegation {
    /// /sys/fs/bpf/jinnguard for a jg-kernel that never held CAP_SYS_ADMIN: group jg-kernel 0770, and
    /// search permission on bpffs itself (as jg-kernel's own start-up does when it runs as root first).
    static func preparePinBase(kernel: ComponentIdentity) {
        let bpffs = "/sys/fs/bpf", base = bpffs + "/jinnguard"
        var st = stat()
        guard lstat(bpffs, &st) == 0 else { Log.warn("no \(bpffs): jg-kernel cannot pin"); return }
        if st.st_mode & 0o011 != 0o011 { _ = chmod(bpffs, (st.st_mode & 0o7777) | 0o011) }
        if mkdir(base, 0o770) != 0 && errno != EEXIST { Log.warn("cannot create \(base): \(String(cString: strerror(errno)))"); return }
        if lchown(base, UInt32.max, kernel.gid) != 0 || chmod(base, 0o770) != 0 {
            Log.warn("cannot give \(base) to jg-kernel's group: \(String(cString: strerror(errno)))")
        }
    }
}
