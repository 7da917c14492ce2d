import Glibc

/// Writes all of `bytes` to `fd`: partial writes continue where they stopped and EINTR is retried, so
/// only a real error (ENOSPC, EIO, EBADF, …) ends it early — then false, with errno as the write left
/// it. For records that are relied on once written (sealed records, checkpoints, keys), where one short
/// `write` taken for success would leave a torn file behind a success.
public func writeFully(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { p in Glibc.write(fd, p.baseAddress! + done, p.count - done) }
        if n < 0 {
            if errno == EINTR { continue }
            return false
        }
        if n == 0 { errno = EIO; return false }
        done += n
    }
    return true
}
