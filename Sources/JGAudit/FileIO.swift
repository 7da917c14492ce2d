
import Glibc



/// Raw descriptor I/O. Plain syscalls rather than FileHandle, because durability depends on knowing
/// exactly which write/fdatasync failed and with which errno.
enum FileIO {
    static func currentErrno() -> Int32 { errno }

    static func readRange(_ fd: Int32, offset: Int, count: Int, op: String) throws(AuditError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { p in
                pread(fd, p.baseAddress! + done, count - done, off_t(offset + done))
            }
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                throw AuditError(operation: op, errno: e, detail: "pread failed")
            }
            if n == 0 { break }
            done += n
        }
        if done < count { out.removeLast(count - done) }
        return out
    }

    static func fileSize(_ fd: Int32, op: String) throws(AuditError) -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw AuditError(operation: op, errno: errno, detail: "fstat failed") }
        // Character devices (e.g. /dev/full in tests) report 0, which is the right answer for "no history".
        return (st.st_mode & S_IFMT) == S_IFREG ? Int(st.st_size) : 0
    }

    static func readAll(path: String, op: String) throws(AuditError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AuditError(operation: op, errno: errno, detail: "cannot open \(path)") }
        defer { _ = Glibc.close(fd) }
        let size = try fileSize(fd, op: op)
        var data = try readRange(fd, offset: 0, count: size, op: op)
        // The file may have grown since fstat (a live daemon appending); take what is there now.
        while true {
            let more = try readRange(fd, offset: data.count, count: 1 << 16, op: op)
            if more.isEmpty { break }
            data += more
        }
        return data
    }

    /// Writes everything or throws; EINTR and partial writes continue where they stopped, so only a real
    /// error (ENOSPC, EIO, …) ends the loop early.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], op: String) throws(AuditError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { p in write(fd, p.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                throw AuditError(operation: op, errno: e, detail: "write failed after \(done) of \(bytes.count) bytes")
            }
            if n == 0 {
                throw AuditError(operation: op, errno: EIO, detail: "write made no progress after \(done) of \(bytes.count) bytes")
            }
            done += n
        }
    }

    static func syncDirectory(of path: String) {
        let dir: String
        if let slash = path.lastIndex(of: "/") {
            dir = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            dir = "."
        }
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        _ = Glibc.close(fd)
    }
}
