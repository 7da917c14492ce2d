import CJGSys
import Glibc

/// A component started by systemd (`--systemd` on its command line, deploy/units/) instead of by
/// `jinnguard run`. Its unit already made it its own user (User=, SupplementaryGroups=) with exactly its
/// capabilities (CapabilityBoundingSet=, AmbientCapabilities=); its control link comes from the
/// rendezvous (`jinnguard rendezvous`, root), which checks with SO_PEERCRED that the peer is this
/// component's own user, and hands over the descriptors `jinnguard run` would have passed at exec
/// (DESIGN.md §2). From then on the component cannot tell the two apart.
public enum SystemdComponent {
    public static let flag = "--systemd"
    public static let rendezvousPath = "/run/jinnguard/link.sock"
    /// How long a starting component waits for the rendezvous to listen.
    public static let connectTimeout = 30.0
    /// Descriptor numbers the rendezvous may hand over (DirectoryHandle, the gate's lineage file).
    public static let handoffTargets: ClosedRange<UInt32> = 4...7

    public static var active: Bool { CommandLine.arguments.contains(flag) }

    /// The identity this component runs as: `--run-as=` under `jinnguard run`; under systemd what the unit
    /// started it as, which must be the component's own named user — anything else refuses to start.
    public static func identity(_ c: Component) -> Result<ComponentIdentity, SystemError> {
        LinkPermits.local = .component(c)
        guard active else { return ComponentIdentity.fromCommandLine() }
        guard let pw = getpwnam(c.rawValue) else { return .failure(SystemError("no user \(c.rawValue)", errno: ENOENT)) }
        let uid = pw.pointee.pw_uid, gid = pw.pointee.pw_gid
        var r: UInt32 = 0, e: UInt32 = 0, s: UInt32 = 0
        guard jg_sys_getresuid(&r, &e, &s) == 0, r == uid, e == uid, s == uid, uid != 0 else {
            return .failure(SystemError("started as uid \(getuid()), not as \(c.rawValue) (uid \(uid)): check User= of \(c.rawValue).service", errno: EPERM))
        }
        guard jg_sys_getresgid(&r, &e, &s) == 0, r == gid, e == gid, s == gid, gid != 0 else {
            return .failure(SystemError("started as gid \(getgid()), not \(c.rawValue)'s group \(gid)", errno: EPERM))
        }
        var groups = [gid_t](repeating: 0, count: 64)
        let n = getgroups(Int32(groups.count), &groups)
        guard n >= 0 else { return .failure(SystemError("getgroups")) }
        let extra = groups[0..<Int(n)].filter { $0 != gid }
        guard !extra.contains(0) else { return .failure(SystemError("started with root's group among its groups", errno: EPERM)) }
        return .success(ComponentIdentity(uid: uid, gid: gid, groups: Array(extra)))
    }

    public struct AttachError: Error, CustomStringConvertible { public var description: String }

    /// Under systemd: takes the socket-activated listener (the gate: LISTEN_FDS=1 at fd 3, moved to fd 4),
    /// opens $NOTIFY_SOCKET, connects to the rendezvous, says who it is, receives its descriptors and makes
    /// the connection its control link at fd 3. A no-op under `jinnguard run`.
    public static func attachIfStarted(_ c: Component, path: String = rendezvousPath) throws(AttachError) {
        guard active else { return }
        SystemdNotify.open()
        if c == .gate {
            let pidOK = getenv("LISTEN_PID").flatMap { Int32(String(cString: $0)) } == getpid()
            guard pidOK, getenv("LISTEN_FDS").flatMap({ Int(String(cString: $0)) }) == 1 else {
                throw AttachError(description: "jg-gate under systemd needs its socket (jinnguard.socket): LISTEN_FDS=1 for this pid")
            }
            guard dup2(3, 4) == 4 else { throw AttachError(description: "dup2 of the agent socket: \(String(cString: strerror(errno)))") }
            _ = Glibc.close(3)
        }
        for v in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { unsetenv(v) }
        let connected = try connectWaiting(path)
        // Kept above 3–7 while the handoff puts descriptors there.
        let high = fcntl(connected.raw, F_DUPFD_CLOEXEC, 10)
        guard high >= 0 else { throw AttachError(description: "fcntl(F_DUPFD_CLOEXEC): \(String(cString: strerror(errno)))") }
        connected.close()
        let sock = OwnedFD(adopting: high)
        guard let peer = try? Sockets.peerCredentials(sock), peer.uid == 0 else {
            throw AttachError(description: "the rendezvous at \(path) is not root's")
        }
        var hello = LinkWriter(type: ControlReport.hello.rawValue)
        hello.string(c.rawValue)
        hello.u32(UInt32(getpid()))
        do { try Sockets.send(hello.frame, passing: nil, over: sock) } catch {
            throw AttachError(description: "rendezvous: \(error)")
        }
        while true {
            let (body, fd) = try readFrame(sock)
            guard var r = LinkReader(body: body) else { throw AttachError(description: "rendezvous: empty message") }
            switch ControlRequest(rawValue: r.type) {
            case .handoff?:
                guard let target = r.u32(), r.atEnd, handoffTargets.contains(target), let fd else {
                    throw AttachError(description: "rendezvous: bad handoff")
                }
                guard dup2(fd.raw, Int32(target)) == Int32(target) else { throw AttachError(description: "dup2: \(String(cString: strerror(errno)))") }
            case .handoffDone?:
                guard r.atEnd, fd == nil else { throw AttachError(description: "rendezvous: bad handoffDone") }
                guard dup2(sock.raw, ControlChannel.inheritedFD) == ControlChannel.inheritedFD else {
                    throw AttachError(description: "dup2 of the control link: \(String(cString: strerror(errno)))")
                }
                return
            default:
                // Before the control link is up only the handoff may come (the permit table of this phase).
                throw AttachError(description: "rendezvous: message \(r.type) not allowed before the handoff ends")
            }
        }
    }

    private static func connectWaiting(_ path: String) throws(AttachError) -> OwnedFD {
        let deadline = Monotonic.now + connectTimeout
        var last = ENOENT
        while Monotonic.now < deadline {
            if let fd = Sockets.connectUnix(path: path) { return fd }
            last = errno
            usleep(100_000)
        }
        throw AttachError(description: "cannot reach the rendezvous \(path) within \(Int(connectTimeout)) s: \(String(cString: strerror(last)))")
    }

    /// One frame, read exactly (never into the next one, whose descriptor belongs to it).
    private static func readFrame(_ sock: OwnedFD) throws(AttachError) -> ([UInt8], OwnedFD?) {
        var header: [UInt8] = []
        var fd: OwnedFD?
        while header.count < Frame.headerSize {
            var buf = [UInt8](repeating: 0, count: Frame.headerSize - header.count)
            let (n, got) = (try? Sockets.receive(into: &buf, from: sock)) ?? (-1, nil)
            guard n > 0 else { throw AttachError(description: "rendezvous closed the connection during the handoff") }
            if let got { guard fd == nil else { throw AttachError(description: "rendezvous: two descriptors in one message") }; fd = got }
            header += buf[0..<n]
        }
        guard case let .body(len) = Frame.checkHeader(header, maxBody: 4096) else { throw AttachError(description: "rendezvous: bad frame") }
        var body: [UInt8] = []
        while body.count < len {
            var buf = [UInt8](repeating: 0, count: len - body.count)
            let n = buf.withUnsafeMutableBytes { recv(sock.raw, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw AttachError(description: "rendezvous closed the connection during the handoff") }
            body += buf[0..<n]
        }
        return (body, fd)
    }
}

extension Sockets {
    /// A blocking, close-on-exec connection to a UNIX socket path; nil (errno set) when it cannot be made.
    public static func connectUnix(path: String) -> OwnedFD? {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { errno = ENAMETOOLONG; return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { return nil }
        let fd = OwnedFD(adopting: s)
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        let r = withUnsafePointer(to: &addr) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd.raw, $0, len) } }
        guard r == 0 else { let e = errno; fd.close(); errno = e; return nil }
        return fd
    }
}
