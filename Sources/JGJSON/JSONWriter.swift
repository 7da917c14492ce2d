/// Compact JSON output. Audit records hash the exact bytes written, so the writer is deterministic:
/// no spaces, keys in the order given, numbers in a fixed form.
public enum JSONWriter {
    public static func write(_ v: JSONValue) -> String {
        var out = ""
        append(v, to: &out)
        return out
    }

    public static func append(_ v: JSONValue, to out: inout String) {
        switch v {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .integer(.signed(i)): out += String(i)
        case let .integer(.unsigned(u)): out += String(u)
        case let .number(d): out += formatNumber(d)
        case let .string(s): appendString(s, to: &out)
        case let .array(items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                append(item, to: &out)
            }
            out += "]"
        case let .object(pairs):
            out += "{"
            for (i, (k, item)) in pairs.enumerated() {
                if i > 0 { out += "," }
                appendString(k, to: &out)
                out += ":"
                append(item, to: &out)
            }
            out += "}"
        }
    }

    /// Integral doubles print without a fraction; NaN and infinities (never valid JSON) print as null.
    public static func formatNumber(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }

    public static func appendString(_ s: String, to out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }

    public static func quote(_ s: String) -> String {
        var out = ""
        appendString(s, to: &out)
        return out
    }
}
