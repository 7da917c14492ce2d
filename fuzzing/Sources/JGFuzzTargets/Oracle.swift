import JGJSON
import JGBrokerCore
import JGPolicy
import JGPolicyYAML

/// The differential runs (scripts/fuzz_differential.py): our side of each comparison, one input per
/// stdin line (hex, so that any bytes pass), one answer per stdout line, in a form the Python reference
/// builds the same way from its own reading.
public enum Oracle {
    public static func serve(_ kind: String) -> Bool {
        let answer: ([UInt8]) -> String
        switch kind {
        case "json": answer = json
        case "invariant": answer = invariant
        case "url": answer = url
        case "canonical": answer = canonical
        default: return false
        }
        while let line = readLine(strippingNewline: true) {
            guard let bytes = unhex(line) else { print("BADHEX"); continue }
            print(answer(bytes))
        }
        return true
    }

    static func unhex(_ s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        var i = 0
        while i < u.count {
            guard let a = v(u[i]), let b = v(u[i + 1]) else { return nil }
            out.append(a << 4 | b)
            i += 2
        }
        return out
    }

    // MARK: JSON

    /// `ERR` or the value as a tagged tree: ["z"], ["b",true], ["i","<digits>"], ["f","<shortest Double>"],
    /// ["s",[scalars]], ["a",[…]], ["o",[[key scalars, value],…]] — ASCII only, so no escaping is compared.
    static func json(_ input: [UInt8]) -> String {
        guard let v = try? JSONParser.parse(input) else { return "ERR" }
        var out = ""
        tagged(v, &out)
        return out
    }

    static func scalars(_ s: String, _ out: inout String) {
        out += "[" + s.unicodeScalars.map { String($0.value) }.joined(separator: ",") + "]"
    }

    static func tagged(_ v: JSONValue, _ out: inout String) {
        switch v {
        case .null: out += "[\"z\"]"
        case let .bool(b): out += b ? "[\"b\",true]" : "[\"b\",false]"
        case let .integer(.signed(i)): out += "[\"i\",\"\(i)\"]"
        case let .integer(.unsigned(u)): out += "[\"i\",\"\(u)\"]"
        case let .number(d): out += "[\"f\",\"\(d)\"]"
        case let .string(s): out += "[\"s\","; scalars(s, &out); out += "]"
        case let .array(a):
            out += "[\"a\",["
            for (k, e) in a.enumerated() { if k > 0 { out += "," }; tagged(e, &out) }
            out += "]]"
        case let .object(o):
            out += "[\"o\",["
            for (k, (key, e)) in o.enumerated() {
                if k > 0 { out += "," }
                out += "["; scalars(key, &out); out += ","; tagged(e, &out); out += "]"
            }
            out += "]]"
        }
    }

    // MARK: Invariants

    /// Input `<invariant>\t<name>=<decimal>;…`. Answers `ERR` (does not parse), `CAP` (beyond the exact
    /// arithmetic's size caps), or `T`/`F`: the invariant's truth under those values, computed from the
    /// parser's folded terms in exact decimal arithmetic — the meaning the prover hands Z3.
    static func invariant(_ input: [UInt8]) -> String {
        guard let line = String(validating: input, as: UTF8.self) else { return "ERR" }
        let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
        var values: [String: ExactDecimal] = [:]
        if parts.count == 2 {
            for a in parts[1].split(separator: ";") {
                let kv = a.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, let d = ExactDecimal(String(kv[1])) else { return "BADVALUE" }
                values[String(kv[0])] = d
            }
        }
        guard let e = try? InvariantParser.parse(String(parts[0])) else { return "ERR" }
        guard let t = holds(e, values) else { return "CAP" }
        return t ? "T" : "F"
    }

    static func value(_ t: LinearTerm, _ v: [String: ExactDecimal]) -> ExactDecimal? {
        var acc = t.constant
        for (name, k) in t.coefficients {
            guard let p = k.multiplied(by: v[name] ?? .zero), let s = acc.adding(p) else { return nil }
            acc = s
        }
        return acc
    }

    static func holds(_ e: InvariantExpr, _ v: [String: ExactDecimal]) -> Bool? {
        switch e {
        case let .compare(l, op, r):
            guard let x = value(l, v), let y = value(r, v) else { return nil }
            switch op {
            case .le: return x <= y
            case .ge: return x >= y
            case .lt: return x < y
            case .gt: return x > y
            case .eq: return x == y
            case .ne: return x != y
            }
        case let .and(a, b):
            guard let x = holds(a, v), let y = holds(b, v) else { return nil }
            return x && y
        case let .or(a, b):
            guard let x = holds(a, v), let y = holds(b, v) else { return nil }
            return x || y
        case let .not(a): return holds(a, v).map { !$0 }
        }
    }

    // MARK: Policies

    /// The canonical JSON of a YAML policy (seeds for the policy-canonical target), or `ERR <reason>`.
    static func canonical(_ input: [UInt8]) -> String {
        guard let t = String(validating: input, as: UTF8.self) else { return "ERR not UTF-8" }
        do { return CanonicalPolicy.encode(try PolicyLoader.load(text: t, sourceName: "oracle")) } catch { return "ERR \(error)" }
    }

    // MARK: URLs

    /// `REJECT` when our rules refuse the URL, else `ALLOW <host> <port>` and curl's reading
    /// (`curl <host> <port>` or `curl-refuses`), tab-separated, so that a run over many URLs lists every disagreement.
    static func url(_ input: [UInt8]) -> String {
        guard !input.contains(0), let u = String(validating: input, as: UTF8.self) else { return "REJECT" }
        guard URLRules.violation(u) == nil, let t = URLRules.parse(u) else { return "REJECT" }
        let c = CurlURL.hostAndPort(u).map { "curl\t\($0.host.lowercased())\t\($0.port)" } ?? "curl-refuses"
        return "ALLOW\t\(t.host)\t\(t.port)\t\(c)"
    }
}
