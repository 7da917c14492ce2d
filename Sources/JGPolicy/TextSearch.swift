/// Substring search over UTF-8 bytes, for the canary check: a resource name matches wherever its code
/// points occur, case-sensitively, so no combining mark or joiner placed next to it can hide it. An empty
/// needle matches nothing.
public enum TextSearch {
    @inline(__always)
    public static func isPrintableASCII(_ b: UInt8) -> Bool { b &- 0x21 < 0x5E }

    public static func contains(_ haystack: String, _ needle: String) -> Bool {
        var h = haystack, n = needle
        return h.withUTF8 { hb in n.withUTF8 { nb in find(nb, in: hb) } }
    }

    /// The range of the first occurrence of `needle`, as UTF-8 positions of `haystack` (valid String indices:
    /// a match starts and ends on code point boundaries). Nil for an empty needle.
    public static func firstRange(of needle: String, in haystack: String) -> Range<String.Index>? {
        var h = haystack, n = needle
        guard let at = h.withUTF8({ hb in n.withUTF8 { nb in offset(nb, in: hb) } }) else { return nil }
        let lo = haystack.utf8.index(haystack.utf8.startIndex, offsetBy: at)
        return lo..<haystack.utf8.index(lo, offsetBy: needle.utf8.count)
    }

    public static func find(_ n: UnsafeBufferPointer<UInt8>, in h: UnsafeBufferPointer<UInt8>) -> Bool {
        offset(n, in: h) != nil
    }

    static func offset(_ n: UnsafeBufferPointer<UInt8>, in h: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let first = n.first else { return nil }
        guard n.count <= h.count else { return nil }
        var i = 0
        let last = h.count - n.count
        while i <= last {
            if h[i] == first {
                var j = 1
                while j < n.count && h[i + j] == n[j] { j += 1 }
                if j == n.count { return i }
            }
            i += 1
        }
        return nil
    }
}
