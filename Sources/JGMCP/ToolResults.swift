import JGBrokerCore
import JGJSON

/// The tool results the gateway writes or rewrites: a denial as an MCP tool error (the model sees it and
/// can adapt; a protocol error would look like a broken server), and CONSTRAIN's limits on a real result.
public enum ToolResults {
    /// `isError: true` with the token first in the text, and the token (and hold id) under `_meta`.
    /// `modern`: the request came under a per-request protocol version (2026-07-28 on), whose results
    /// must say `resultType`.
    public static func denied(token: String, detail: String?, tool: String, modern: Bool = false) -> JSONValue {
        var text = "\(token): Jinn Guard refused the call of tool \"\(tool)\""
        if let d = detail { text += " (\(d))" }
        var meta: [(String, JSONValue)] = [("verdict", .string(token))]
        if let d = detail { meta.append(("detail", .string(d))) }
        var r: [(String, JSONValue)] = [
            ("content", .array([.object([("type", .string("text")), ("text", .string(text))])])),
            ("isError", .bool(true)),
        ]
        if modern { r.append(("resultType", .string("complete"))) }
        r.append(("_meta", .object([("io.jinnguard/decision", .object(meta))])))
        return .object(r)
    }

    /// CONSTRAIN applied to a `tools/call` result: every string of `content` and `structuredContent` is
    /// redacted when asked, and each of the two keeps at most `outputByteLimit` bytes of strings (cut on
    /// a UTF-8 boundary, in document order). A cut is said under `_meta`. Other fields are kept.
    public static func limited(_ result: JSONValue, _ limits: ResultLimits) -> JSONValue {
        guard case let .object(pairs) = result else { return result }
        var truncated = false
        var out: [(String, JSONValue)] = []
        for (k, v) in pairs {
            if k == "content" || k == "structuredContent" {
                var budget = limits.outputByteLimit
                out.append((k, limit(v, limits.redact, &budget, &truncated, key: nil)))
            } else {
                out.append((k, v))
            }
        }
        if truncated || limits.redact {
            var meta: [(String, JSONValue)] = []
            if case let .object(m)? = result["_meta"] { meta = m.filter { $0.0 != "io.jinnguard/constraints" } }
            meta.append(("io.jinnguard/constraints", .object([
                ("output_byte_limit", .integer(.signed(Int64(limits.outputByteLimit)))),
                ("redact_output", .bool(limits.redact)), ("truncated", .bool(truncated)),
            ])))
            out = out.filter { $0.0 != "_meta" } + [("_meta", .object(meta))]
        }
        return .object(out)
    }

    static func limit(_ v: JSONValue, _ redact: Bool, _ budget: inout Int, _ truncated: inout Bool, key: String?) -> JSONValue {
        switch v {
        case let .string(s):
            // Content type tags and MIME types are structure, not output.
            if key == "type" || key == "mimeType" { return v }
            var t = redact ? Redactor.redact(s) : s
            let n = t.utf8.count
            if n > budget {
                t = cut(t, to: max(budget, 0))
                truncated = true
            }
            budget -= min(n, budget)
            return .string(t)
        case let .array(items): return .array(items.map { limit($0, redact, &budget, &truncated, key: nil) })
        case let .object(pairs): return .object(pairs.map { ($0.0, limit($0.1, redact, &budget, &truncated, key: $0.0)) })
        default: return v
        }
    }

    /// The longest prefix of `s` of at most `n` UTF-8 bytes that ends on a character boundary.
    static func cut(_ s: String, to n: Int) -> String {
        let b = Array(s.utf8)
        guard b.count > n else { return s }
        var end = n
        while end > 0, b[end] & 0xC0 == 0x80 { end -= 1 }
        return String(decoding: b[0..<end], as: UTF8.self)
    }

    /// A `tools/list` result with only the tools `allowed` admits; everything else in it is kept.
    public static func filteredList(_ result: JSONValue, allowed: (String) -> Bool) -> JSONValue {
        guard case let .object(pairs) = result else { return result }
        return .object(pairs.map { k, v in
            guard k == "tools", case let .array(tools) = v else { return (k, v) }
            return (k, .array(tools.filter { t in t["name"]?.stringValue.map(allowed) ?? false }))
        })
    }
}
