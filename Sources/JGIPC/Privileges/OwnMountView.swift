import CJGSys
import Glibc

/// Under systemd a component has a mount namespace of its own (ProtectSystem=, PrivateTmp=, …), while the
/// rendezvous opened the directories it hands over in the host's. A descriptor keeps the namespace it was
/// opened in: paths reached through it are mounts of the host's namespace, and the kernel refuses to bind
/// those into a tool's view (EINVAL: not a mount of the caller's namespace). So the handed directory is
/// opened again by its name here and put at the same descriptor number — only when that name leads to the
/// very same directory (device and inode); otherwise the handed descriptor stays, and a tool view built on
/// it fails closed.
public enum OwnMountView {
    /// Returns nil when `fd` now reaches `name` through this process's own mounts, else why it does not.
    public static func reopen(fd: Int32, name: String) -> String? {
        var handed = stat(), here = stat()
        guard fstat(fd, &handed) == 0 else { return "descriptor \(fd): \(String(cString: strerror(errno)))" }
        let own = jg_sys_open_directory_path(name)
        guard own >= 0 else { return "\(name): \(String(cString: strerror(errno)))" }
        defer { _ = close(own) }
        guard fstat(own, &here) == 0, here.st_dev == handed.st_dev, here.st_ino == handed.st_ino else {
            return "\(name) here is not the directory the rendezvous handed over"
        }
        guard dup2(own, fd) == fd, fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 else { return "dup2: \(String(cString: strerror(errno)))" }
        return nil
    }

    /// The descriptor number of an access path `/proc/self/fd/N` (DirectoryHandle), if it is one.
    public static func descriptor(ofAccess access: String) -> Int32? {
        let prefix = "/proc/self/fd/"
        guard access.hasPrefix(prefix) else { return nil }
        return Int32(access.dropFirst(prefix.count))
    }
}
