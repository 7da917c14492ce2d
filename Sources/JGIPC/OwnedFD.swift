import Glibc
import CJGSys

/// The single owner of a file descriptor: it is closed exactly once, when the owner goes away or
/// `close()` is called. A bare Int32 is only a name.
public final class OwnedFD: @unchecked Sendable {
    public private(set) var raw: Int32

    public init(adopting raw: Int32) { self.raw = raw }

    deinit { if raw >= 0 { Glibc.close(raw) } }

    /// Never retried on EINTR: Linux releases the descriptor even when close reports an error.
    public func close() {
        if raw >= 0 { Glibc.close(raw) }
        raw = -1
    }

    /// Gives up ownership without closing (the caller takes it over).
    public func release() -> Int32 {
        let r = raw
        raw = -1
        return r
    }

    public var isOpen: Bool { raw >= 0 }

    public func setNonBlocking(_ on: Bool = true) throws(SystemError) {
        let flags = fcntl(raw, F_GETFL)
        guard flags >= 0 else { throw SystemError("fcntl(F_GETFL)") }
        let nf = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
        guard fcntl(raw, F_SETFL, nf) == 0 else { throw SystemError("fcntl(F_SETFL)") }
    }

    /// A close-on-exec duplicate, owned separately.
    public func duplicate() throws(SystemError) -> OwnedFD {
        let d = fcntl(raw, F_DUPFD_CLOEXEC, 3)
        guard d >= 0 else { throw SystemError("fcntl(F_DUPFD_CLOEXEC)") }
        return OwnedFD(adopting: d)
    }

    /// Writes all of `bytes` on a blocking descriptor.
    public func writeAll(_ bytes: [UInt8]) throws(SystemError) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { p in retryOnInterrupt { Glibc.write(raw, p.baseAddress! + off, p.count - off) } }
            guard n > 0 else { throw SystemError("write") }
            off += n
        }
    }
}

public struct PeerCredentials: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }
}

public enum Sockets {
    /// A close-on-exec AF_UNIX stream socketpair: the link between two components.
    public static func pair() throws(SystemError) -> (OwnedFD, OwnedFD) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw SystemError("socketpair")
        }
        return (OwnedFD(adopting: fds[0]), OwnedFD(adopting: fds[1]))
    }

    public static func peerCredentials(_ fd: OwnedFD) throws(SystemError) -> PeerCredentials {
        var pid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
        guard jg_sys_peercred(fd.raw, &pid, &uid, &gid) == 0 else { throw SystemError("getsockopt(SO_PEERCRED)") }
        return PeerCredentials(pid: pid, uid: uid, gid: gid)
    }

    /// Sends one framed message with a descriptor attached. Blocking socket; the message is small.
    public static func send(_ bytes: [UInt8], passing fd: OwnedFD?, over sock: OwnedFD) throws(SystemError) {
        let n = bytes.withUnsafeBytes { p in retryOnInterrupt { jg_sys_send_with_fd(sock.raw, p.baseAddress, p.count, fd?.raw ?? -1) } }
        guard n == bytes.count else { throw SystemError(n < 0 ? "sendmsg" : "sendmsg(short)", errno: n < 0 ? errno : EMSGSIZE) }
    }

    /// Receives bytes and at most one descriptor, which becomes owned at once.
    public static func receive(into buffer: inout [UInt8], from sock: OwnedFD) throws(SystemError) -> (Int, OwnedFD?) {
        var fd: Int32 = -1
        let n = buffer.withUnsafeMutableBytes { p in retryOnInterrupt { jg_sys_recv_with_fd(sock.raw, p.baseAddress, p.count, &fd) } }
        guard n >= 0 else { throw SystemError("recvmsg") }
        return (n, fd >= 0 ? OwnedFD(adopting: fd) : nil)
    }

    /// Binds and listens on a UNIX socket path. A stale socket is unlinked; any other kind of file
    /// there is an error and is left alone.
    public static func listenUnix(path: String, mode: mode_t, backlog: Int32 = 1024) throws(SystemError) -> OwnedFD {
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFSOCK else {
                throw SystemError("refusing to replace non-socket file at \(path)", errno: EEXIST)
            }
            guard unlink(path) == 0 else { throw SystemError("unlink(\(path))") }
        }
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw SystemError("socket") }
        let fd = OwnedFD(adopting: s)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw SystemError("socket path too long", errno: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        let r = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd.raw, $0, len) }
        }
        guard r == 0 else { throw SystemError("bind(\(path))") }
        guard chmod(path, mode) == 0 else { throw SystemError("chmod(\(path))") }
        guard listen(fd.raw, backlog) == 0 else { throw SystemError("listen") }
        return fd
    }
}
