/// Substring search without Foundation for the common case, with the exact Foundation semantics kept.
///
/// `String.contains` here is Foundation's (CFStringFind, non-literal): it compares canonically equivalent
/// sequences and never lets a match begin or end inside a composed character. Between ASCII strings with
/// no control characters in the needle none of that can apply (ASCII holds no combining marks, and a
/// needle without CR or LF cannot cut a CR LF pair), so a byte search gives the same answer.
public enum TextSearch {
    @inline(__always)
    static func isPrintableASCII(_ b: UInt8) -> Bool { b &- 0x21 < 0x5E }

    public static func contains(_ haystack: String, _ needle: String) -> Bool {
        let fast: Bool?? = needle.utf8.withContiguousStorageIfAvailable { n -> Bool? in
            // Foundation finds no empty string anywhere; leave that, like anything unusual, to it.
            guard !n.isEmpty else { return nil }
            for b in n where b < 0x20 || b >= 0x7F { return nil }
            return haystack.utf8.withContiguousStorageIfAvailable { h -> Bool? in
                var or: UInt8 = 0
                for b in h { or |= b }
                guard or < 0x80 else { return nil }
                return find(n, in: h)
            } ?? nil
        }
        if let r = fast ?? nil { return r }
        return haystack.contains(needle)
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
