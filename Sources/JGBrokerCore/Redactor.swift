/// Secret redaction for CONSTRAIN's `redact_output`. The documented pattern set:
/// - `key=value` / `key: value` where key is password, passwd, pwd, secret, token, api_key, apikey,
///   access_key, private_key, auth or authorization (any case): the value is replaced;
/// - AWS access key ids (`AKIA` + 16 upper-case letters or digits);
/// - `Bearer <token>` (any case);
/// - PEM private key blocks (`-----BEGIN … PRIVATE KEY-----` … `-----END … PRIVATE KEY-----`).
/// One pass over the bytes: output can be megabytes, and this runs on the broker's request path.
public enum Redactor {
    public static let marker = "[REDACTED]"
    static let keys: [[UInt8]] = ["password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "access_key",
                                  "private_key", "authorization", "auth"].map { Array($0.utf8) }
    static let bearer = Array("bearer ".utf8)
    static let pemBegin = Array("-----BEGIN".utf8)
    static let pemKeyEnd = Array("PRIVATE KEY-----".utf8)

    public static func redact(_ text: String) -> String {
        let b = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        let m = Array(marker.utf8)
        var i = 0
        while i < b.count {
            let c = b[i]
            // PEM private key block: from BEGIN to the END line's "PRIVATE KEY-----".
            if c == UInt8(ascii: "-"), starts(b, i, pemBegin), let k = find(b, pemKeyEnd, from: i, limit: 200),
               let e = find(b, pemKeyEnd, from: k + pemKeyEnd.count, limit: 1 << 20) {
                out += m
                i = e + pemKeyEnd.count
                continue
            }
            // AWS access key id.
            if c == UInt8(ascii: "A"), i + 20 <= b.count, b[i + 1] == UInt8(ascii: "K"), b[i + 2] == UInt8(ascii: "I"),
               b[i + 3] == UInt8(ascii: "A"), b[i + 4..<i + 20].allSatisfy({ isUpper($0) || isDigit($0) }) {
                out += m
                i += 20
                continue
            }
            if isLetter(c), i == 0 || !isWordByte(b[i - 1]) {
                if startsCaseless(b, i, bearer) {
                    out += b[i..<i + bearer.count] + m
                    i = skipValue(b, i + bearer.count)
                    continue
                }
                if let k = keys.first(where: { startsCaseless(b, i, $0) }) {
                    var j = i + k.count
                    while j < b.count, b[j] == 0x20 || b[j] == 0x22 || b[j] == 0x27 { j += 1 }
                    if j < b.count, b[j] == UInt8(ascii: "=") || b[j] == UInt8(ascii: ":") {
                        j += 1
                        while j < b.count, b[j] == 0x20 || b[j] == 0x22 || b[j] == 0x27 { j += 1 }
                        // `Authorization: Bearer <token>`: the scheme stays, the token goes.
                        if startsCaseless(b, j, bearer) { j += bearer.count }
                        out += b[i..<j] + m
                        i = skipValue(b, j)
                        continue
                    }
                }
            }
            out.append(c)
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func skipValue(_ b: [UInt8], _ from: Int) -> Int {
        var j = from
        while j < b.count, !isSpace(b[j]), b[j] != 0x22, b[j] != 0x27, b[j] != UInt8(ascii: ",") { j += 1 }
        return j
    }

    static func starts(_ b: [UInt8], _ i: Int, _ p: [UInt8]) -> Bool {
        guard i + p.count <= b.count else { return false }
        for k in 0..<p.count where b[i + k] != p[k] { return false }
        return true
    }

    static func startsCaseless(_ b: [UInt8], _ i: Int, _ p: [UInt8]) -> Bool {
        guard i + p.count <= b.count else { return false }
        for k in 0..<p.count where lower(b[i + k]) != p[k] { return false }
        return true
    }

    static func find(_ b: [UInt8], _ p: [UInt8], from: Int, limit: Int) -> Int? {
        var i = from
        let end = min(b.count - p.count, from + limit)
        while i <= end {
            if b[i] == p[0] && starts(b, i, p) { return i }
            i += 1
        }
        return nil
    }

    static func lower(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c + 32 : c }
    static func isUpper(_ c: UInt8) -> Bool { c >= 65 && c <= 90 }
    static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    static func isLetter(_ c: UInt8) -> Bool { isUpper(c) || (c >= 97 && c <= 122) }
    static func isWordByte(_ c: UInt8) -> Bool { isLetter(c) || isDigit(c) || c == UInt8(ascii: "_") }
    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }
}
