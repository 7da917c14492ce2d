/// Secret redaction for CONSTRAIN's `redact_output`. The documented pattern set:
/// - `key=value` / `key: value` where key is password, passwd, pwd, secret, token, api_key, apikey,
///   access_key, private_key, auth or authorization (any case): the value is replaced;
/// - AWS access key ids (`AKIA` + 16 upper-case letters or digits);
/// - `Bearer <token>`;
/// - PEM private key blocks (`-----BEGIN … PRIVATE KEY-----` … `-----END … PRIVATE KEY-----`).
public enum Redactor {
    public static let marker = "[REDACTED]"
    static let keys = ["password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "access_key", "private_key",
                       "authorization", "auth"]

    public static func redact(_ text: String) -> String {
        var out = redactPEM(text)
        out = out.split(separator: "\n", omittingEmptySubsequences: false).map { redactLine(String($0)) }.joined(separator: "\n")
        return out
    }

    static func redactPEM(_ text: String) -> String {
        var out = text
        while let b = out.range(of: "-----BEGIN"), let kind = out[b.upperBound...].range(of: "PRIVATE KEY-----"),
              let end = out[kind.upperBound...].range(of: "PRIVATE KEY-----") {
            out.replaceSubrange(b.lowerBound..<end.upperBound, with: marker)
        }
        return out
    }

    static func redactLine(_ line: String) -> String {
        var chars = Array(line)
        let lower = Array(line.lowercased())
        guard lower.count == chars.count else { return marker }
        var i = 0
        var result: [Character] = []
        while i < chars.count {
            // AWS access key id.
            if i + 20 <= chars.count, String(chars[i..<i + 4]) == "AKIA",
               chars[i + 4..<i + 20].allSatisfy({ ($0.isUppercase && $0.isASCII) || $0.isNumber }) {
                result += Array(marker); i += 20; continue
            }
            // Bearer tokens.
            if i + 7 <= chars.count, String(lower[i..<i + 7]) == "bearer " {
                result += Array("Bearer " + marker)
                i += 7
                while i < chars.count, !chars[i].isWhitespace { i += 1 }
                continue
            }
            if let k = keys.first(where: { i + $0.count <= lower.count && String(lower[i..<i + $0.count]) == $0 }) {
                var j = i + k.count
                while j < chars.count, chars[j] == " " || chars[j] == "\"" || chars[j] == "'" { j += 1 }
                if j < chars.count, chars[j] == "=" || chars[j] == ":" {
                    j += 1
                    while j < chars.count, chars[j] == " " || chars[j] == "\"" || chars[j] == "'" { j += 1 }
                    // `Authorization: Bearer <token>`: the scheme stays, the token goes.
                    if j + 7 <= lower.count, String(lower[j..<j + 7]) == "bearer " { j += 7 }
                    result += chars[i..<j]
                    result += Array(marker)
                    while j < chars.count, !chars[j].isWhitespace, chars[j] != "\"", chars[j] != "'", chars[j] != "," { j += 1 }
                    i = j
                    continue
                }
            }
            result.append(chars[i])
            i += 1
        }
        chars = result
        return String(chars)
    }
}
