import Glibc

/// Whole-file reads of small files (keys, status, manifests), bounded so a huge file cannot exhaust memory.
public enum Files {
    /// The file's bytes, or nil when it cannot be opened or read, or is larger than `limit`.
    public static func read(_ path: String, limit: Int = 64 << 20) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = retryOnInterrupt { Glibc.read(fd, &buf, buf.count) }
            if n < 0 { return nil }
            if n == 0 { return out }
            out += buf[0..<n]
            if out.count > limit { return nil }
        }
    }

    public static func readText(_ path: String, limit: Int = 64 << 20) -> String? {
        read(path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }
}
