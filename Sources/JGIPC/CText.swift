/// A NUL-terminated C buffer as a String: up to the first NUL (or the whole buffer if it has none), invalid
/// UTF-8 repaired — never a read past the array, which `String(cString: [CChar])` (deprecated) risked.
public enum CText {
    public static func string(_ buf: [CChar]) -> String {
        let end = buf.firstIndex(of: 0) ?? buf.count
        return String(decoding: buf[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
