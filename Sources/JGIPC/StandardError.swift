import Glibc

/// Raw text to fd 2 with one write(2): Glibc's `stderr` is a C global, not concurrency-safe in Swift 6, and
/// a FILE* buffer would interleave with the components' own direct writes.
public enum StandardError {
    public static func write(_ text: String) {
        var b = Array(text.utf8)
        var off = 0
        while off < b.count {
            let n = b.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress! + off, $0.count - off) }
            if n > 0 { off += n } else if n < 0 && errno == EINTR { continue } else { return }
        }
    }
}
