/// Substring search over UTF-8 bytes, for the canary check: a resource name matches wherever its code
/// points occur, case-sensitively, so no combining mark or joiner placed next to it can hide it. An empty
/// needle matches nothing.
public enum TextSearch {
    @inline(__always)
    static func isPrintableASCII(_ b: UInt8) -> Bool { b &- 0x21 < 0x5E }

    public static func contains(_ haystack: String, _ needle: String) -> Bool {
        var h = haystack, n = needle
        return h.withUTF8 { hb in n.withUTF8 { nb in find(nb, in: hb) } }
    }

    static func find(_ n: UnsafeBufferPointer<UInt8>, in h: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = n.first else { return false }
        guard n.count <= h.count else { return false }
        var i = 0
        let last = h.count - n.count
        while i <= last {
            if h[i] == first {
                var j = 1
                while j < n.count && h[i + j] == n[j] { j += 1 }
                if j == n.count { return true }
            }
            i += 1
        }
        return false
    }
}
