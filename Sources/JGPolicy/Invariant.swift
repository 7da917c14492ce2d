/// The invariant language (PROTOCOL.md §6.3): `<variable> <op> <number>`, grown within linear real
/// arithmetic. This file holds the syntax only; JGProverCore gives it meaning in Z3.
public indirect enum InvariantExpr: Sendable, Equatable {
    case compare(LinearTerm, CompareOp, LinearTerm)
    case and(InvariantExpr, InvariantExpr)
    case or(InvariantExpr, InvariantExpr)
    case not(InvariantExpr)

    /// Every variable the expression mentions, sorted.
    public var variables: [String] {
        var s = Set<String>()
        collect(&s)
        return s.sorted()
    }

    func collect(_ s: inout Set<String>) {
        switch self {
        case let .compare(l, _, r): l.coefficients.keys.forEach { s.insert($0) }; r.coefficients.keys.forEach { s.insert($0) }
        case let .and(a, b), let .or(a, b): a.collect(&s); b.collect(&s)
        case let .not(a): a.collect(&s)
        }
    }
}

public enum CompareOp: String, Sendable, Equatable, CaseIterable {
    case le = "<=", ge = ">=", lt = "<", gt = ">", eq = "==", ne = "!="
}

/// Σ coefficient·variable + constant, with exact coefficients: `0.1 + 0.2 == 0.3` holds here,
/// because a policy author's decimals must mean what they say, not their nearest binary Double.
public struct LinearTerm: Sendable, Equatable {
    public var coefficients: [String: ExactDecimal]
    public var constant: ExactDecimal
    public init(coefficients: [String: ExactDecimal] = [:], constant: ExactDecimal = .zero) {
        self.coefficients = coefficients
        self.constant = constant
    }
}

/// An exact decimal number: ±mantissa × 10^exponent with an arbitrary-precision mantissa. Invariant
/// constants only ever come from decimal literals combined by `+`, `-` and `*`, and decimals are
/// closed under those, so no rational division is ever needed. Sizes are capped (see `maxDigits`,
/// `maxExponent`) so that a hostile invariant cannot make the parser allocate without bound.
public struct ExactDecimal: Sendable, Hashable, Comparable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    /// Decimal digits of the mantissa, least significant first, no trailing (most significant) zeros;
    /// empty for zero. The lowest digit is non-zero (trailing zeros live in `exponent`).
    private var digits: [UInt8]
    private var exponent: Int
    private var negative: Bool

    public static let maxDigits = 1_000
    public static let maxExponent = 1_000
    public static let zero = ExactDecimal(digits: [], exponent: 0, negative: false)

    private init(digits: [UInt8], exponent: Int, negative: Bool) {
        self.digits = digits
        self.exponent = exponent
        self.negative = negative
        normalize()
    }

    public init(integerLiteral value: Int) {
        var m = value.magnitude
        var d: [UInt8] = []
        while m > 0 { d.append(UInt8(m % 10)); m /= 10 }
        self.init(digits: d, exponent: 0, negative: value < 0)
    }

    /// Parses a decimal literal: `12`, `-0.5`, `.25`, `1.5e-3`, `2E+10`. Nil when malformed or beyond
    /// the size caps.
    public init?(_ text: String) {
        var s = Substring(text)
        var neg = false
        if s.first == "-" || s.first == "+" { neg = s.first == "-"; s = s.dropFirst() }
        var exp = 0
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            var es = s[s.index(after: e)...]
            var eneg = false
            if es.first == "-" || es.first == "+" { eneg = es.first == "-"; es = es.dropFirst() }
            guard !es.isEmpty, es.allSatisfy({ $0.isASCII && $0.isNumber }), es.count <= 6, let v = Int(es) else { return nil }
            exp = eneg ? -v : v
            s = s[..<e]
        }
        var intPart = s
        var frac: Substring = ""
        if let dot = s.firstIndex(of: ".") {
            intPart = s[..<dot]
            frac = s[s.index(after: dot)...]
        }
        guard !(intPart.isEmpty && frac.isEmpty),
              (intPart + frac).allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        let all = Array((intPart + frac).utf8).map { $0 - 48 }
        var d = Array(all.reversed())
        while let last = d.last, last == 0 { d.removeLast() }  // leading zeros of the literal
        guard d.count <= Self.maxDigits + 64 else { return nil }
        self.init(digits: d, exponent: exp - frac.count, negative: neg)
        guard fitsCaps else { return nil }
    }

    /// The exact value of a Double's shortest round-trip decimal (`0.1` → 1/10): the same number a
    /// policy author means by writing that decimal. Nil for non-finite values.
    public init?(_ d: Double) {
        guard d.isFinite else { return nil }
        self.init(d.description)
    }

    private mutating func normalize() {
        while let last = digits.last, last == 0 { digits.removeLast() }
        var lowZeros = 0
        while lowZeros < digits.count, digits[lowZeros] == 0 { lowZeros += 1 }
        if lowZeros > 0 { digits.removeFirst(lowZeros); exponent += lowZeros }
        if digits.isEmpty { exponent = 0; negative = false }
    }

    var fitsCaps: Bool {
        digits.count <= Self.maxDigits && abs(exponent) <= Self.maxExponent
    }

    public var isZero: Bool { digits.isEmpty }
    public var isNegative: Bool { negative }

    /// The nearest Double (correctly rounded by the standard library's parser).
    public var doubleValue: Double {
        if digits.isEmpty { return 0 }
        let m = String(digits.reversed().map { Character(Unicode.Scalar($0 + 48)) })
        return Double((negative ? "-" : "") + m + "e" + String(exponent)) ?? (negative ? -.infinity : .infinity)
    }

    /// Z3's numeral syntax: `N` or `N/D` (D a power of ten), with a leading `-` when negative.
    public var rationalString: String {
        if digits.isEmpty { return "0" }
        let m = String(digits.reversed().map { Character(Unicode.Scalar($0 + 48)) })
        let sign = negative ? "-" : ""
        if exponent >= 0 { return sign + m + String(repeating: "0", count: exponent) }
        return sign + m + "/1" + String(repeating: "0", count: -exponent)
    }

    /// Plain decimal notation (`-12.5`, `0.003`), switching to `Me±E` when that would be long; always
    /// re-parses to the same value.
    public var description: String {
        if digits.isEmpty { return "0" }
        let m = String(digits.reversed().map { Character(Unicode.Scalar($0 + 48)) })
        let sign = negative ? "-" : ""
        if exponent >= 0 {
            if exponent <= 20 { return sign + m + String(repeating: "0", count: exponent) }
            return sign + m + "e" + String(exponent)
        }
        let point = -exponent
        if point > 30 { return sign + m + "e" + String(exponent) }
        if point >= m.count { return sign + "0." + String(repeating: "0", count: point - m.count) + m }
        let cut = m.index(m.endIndex, offsetBy: -point)
        return sign + m[..<cut] + "." + m[cut...]
    }

    // MARK: Arithmetic (nil when a result would exceed the caps)

    public static prefix func - (x: ExactDecimal) -> ExactDecimal {
        var y = x
        if !y.digits.isEmpty { y.negative.toggle() }
        return y
    }

    /// Mantissa of `x` scaled to exponent `e` (e <= x.exponent).
    private static func aligned(_ x: ExactDecimal, to e: Int) -> [UInt8] {
        Array(repeating: 0, count: x.exponent - e) + x.digits
    }

    private static func compareMagnitude(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var a = a, b = b
        while let l = a.last, l == 0 { a.removeLast() }
        while let l = b.last, l == 0 { b.removeLast() }
        if a.count != b.count { return a.count < b.count ? -1 : 1 }
        for i in stride(from: a.count - 1, through: 0, by: -1) where a[i] != b[i] { return a[i] < b[i] ? -1 : 1 }
        return 0
    }

    public func adding(_ o: ExactDecimal) -> ExactDecimal? {
        if isZero { return o }
        if o.isZero { return self }
        let e = min(exponent, o.exponent)
        guard max(exponent, o.exponent) - e + max(digits.count, o.digits.count) <= Self.maxDigits + 1 else { return nil }
        let a = Self.aligned(self, to: e), b = Self.aligned(o, to: e)
        var out: [UInt8] = []
        var neg = negative
        if negative == o.negative {
            var carry: UInt8 = 0
            for i in 0..<max(a.count, b.count) {
                let s = (i < a.count ? a[i] : 0) + (i < b.count ? b[i] : 0) + carry
                out.append(s % 10)
                carry = s / 10
            }
            if carry > 0 { out.append(carry) }
        } else {
            let c = Self.compareMagnitude(a, b)
            if c == 0 { return .zero }
            let (big, small) = c > 0 ? (a, b) : (b, a)
            neg = c > 0 ? negative : o.negative
            var borrow: Int = 0
            for i in 0..<big.count {
                var s = Int(big[i]) - Int(i < small.count ? small[i] : 0) - borrow
                if s < 0 { s += 10; borrow = 1 } else { borrow = 0 }
                out.append(UInt8(s))
            }
        }
        let r = ExactDecimal(digits: out, exponent: e, negative: neg)
        return r.fitsCaps ? r : nil
    }

    public func subtracting(_ o: ExactDecimal) -> ExactDecimal? { adding(-o) }

    public func multiplied(by o: ExactDecimal) -> ExactDecimal? {
        if isZero || o.isZero { return .zero }
        guard digits.count + o.digits.count <= Self.maxDigits + 1 else { return nil }
        var acc = [Int](repeating: 0, count: digits.count + o.digits.count + 1)
        for (i, x) in digits.enumerated() {
            for (j, y) in o.digits.enumerated() { acc[i + j] += Int(x) * Int(y) }
        }
        var out: [UInt8] = []
        var carry = 0
        for v in acc {
            let s = v + carry
            out.append(UInt8(s % 10))
            carry = s / 10
        }
        while carry > 0 { out.append(UInt8(carry % 10)); carry /= 10 }
        let r = ExactDecimal(digits: out, exponent: exponent + o.exponent, negative: negative != o.negative)
        return r.fitsCaps ? r : nil
    }

    public static func < (a: ExactDecimal, b: ExactDecimal) -> Bool {
        if a.negative != b.negative { return a.negative }
        if a.isZero || b.isZero { return a.isZero ? (!b.negative && !b.isZero) : a.negative }
        let e = min(a.exponent, b.exponent)
        let c = compareMagnitude(aligned(a, to: e), aligned(b, to: e))
        return a.negative ? c > 0 : c < 0
    }
}

extension LinearTerm: CustomStringConvertible {
    /// Canonical text that `InvariantParser` reads back to an equal term: `k*name` terms in name order,
    /// then the constant.
    public var description: String {
        var parts: [String] = []
        for name in coefficients.keys.sorted() {
            let k = coefficients[name] ?? .zero
            parts.append(k == 1 ? name : "\(k)*\(name)")
        }
        if !constant.isZero || parts.isEmpty { parts.append(constant.description) }
        return parts.joined(separator: " + ")
    }
}

extension InvariantExpr: CustomStringConvertible {
    /// Fully parenthesised canonical text; `InvariantParser.parse(e.description) == e`.
    /// Parenthesised only where the grammar needs it, so that the text nests no deeper than what was
    /// parsed (found by the fuzz target `invariant`: 41 `!` printed as `!(!(…))` went past the parser's
    /// depth limit, and so would a long chain with one parenthesis per link): a chain `a && b && c`
    /// (left-nested) prints flat, and `!` takes a comparison or another `!` without parentheses.
    public var description: String {
        switch self {
        case let .compare(l, op, r): return "\(l) \(op.rawValue) \(r)"
        case let .and(a, b): return (a.isAnd ? a.description : "(\(a))") + " && (\(b))"
        case let .or(a, b): return (a.isOr ? a.description : "(\(a))") + " || (\(b))"
        case let .not(a):
            switch a {
            case .compare, .not: return "!" + a.description
            case .and, .or: return "!(\(a))"
            }
        }
    }

    var isAnd: Bool { if case .and = self { return true } else { return false } }
    var isOr: Bool { if case .or = self { return true } else { return false } }
}

public struct InvariantSyntaxError: Error, Sendable, Equatable {
    /// 1-based column within the invariant text.
    public var column: Int
    public var reason: String
}

/// Recursive-descent parser. Grammar:
/// ```
/// expr    := orExpr
/// orExpr  := andExpr ("||" andExpr)*
/// andExpr := unary ("&&" unary)*
/// unary   := "!" unary | "(" expr ")" | comparison
/// comparison := sum op sum          op: <= >= < > == !=
/// sum     := product (("+"|"-") product)*
/// product := ["-"] atom ("*" atom)*   (at most one side of each "*" may be a variable)
/// atom    := number | identifier | "(" sum ")"
/// ```
public enum InvariantParser {
    public static func parse(_ text: String) throws(InvariantSyntaxError) -> InvariantExpr {
        var p = Parser(tokens: try tokenize(text), textLength: text.count)
        let e = try p.expr()
        guard p.pos == p.tokens.count else { throw p.error("unexpected '\(p.tokens[p.pos].text)'") }
        return e
    }

    struct Token {
        enum Kind { case number(ExactDecimal), ident(String), op(String) }
        var kind: Kind
        var text: String
        var column: Int
    }

    static func tokenize(_ text: String) throws(InvariantSyntaxError) -> [Token] {
        let chars = Array(text)
        var out: [Token] = []
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == " " || c == "\t" { i += 1; continue }
            let col = i + 1
            if c.isLetter || c == "_" {
                var j = i
                while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" || chars[j] == "." { j += 1 }
                let s = String(chars[i..<j])
                guard s.allSatisfy({ $0.isASCII }) else { throw InvariantSyntaxError(column: col, reason: "variable names are ASCII") }
                out.append(Token(kind: .ident(s), text: s, column: col))
                i = j
            } else if c.isNumber || (c == "." && i + 1 < chars.count && chars[i + 1].isNumber) {
                var j = i
                while j < chars.count, chars[j].isNumber || chars[j] == "." { j += 1 }
                if j < chars.count, chars[j] == "e" || chars[j] == "E" {
                    j += 1
                    if j < chars.count, chars[j] == "+" || chars[j] == "-" { j += 1 }
                    while j < chars.count, chars[j].isNumber { j += 1 }
                }
                let s = String(chars[i..<j])
                guard let d = ExactDecimal(s) else { throw InvariantSyntaxError(column: col, reason: "bad number '\(s)'") }
                out.append(Token(kind: .number(d), text: s, column: col))
                i = j
            } else {
                let two = i + 1 < chars.count ? String(chars[i...i + 1]) : ""
                if ["<=", ">=", "==", "!=", "&&", "||"].contains(two) {
                    out.append(Token(kind: .op(two), text: two, column: col))
                    i += 2
                } else if "<>()+-*!".contains(c) {
                    out.append(Token(kind: .op(String(c)), text: String(c), column: col))
                    i += 1
                } else {
                    throw InvariantSyntaxError(column: col, reason: "unexpected character '\(c)'")
                }
            }
        }
        return out
    }

    struct Parser {
        var tokens: [Token]
        var textLength: Int
        var pos = 0
        /// Parentheses and `!` nest at most this deep: recursion depth stays bounded whatever the input.
        static let maxDepth = 64
        var depth = 0

        mutating func enter() throws(InvariantSyntaxError) {
            depth += 1
            if depth > Self.maxDepth { throw error("nesting deeper than \(Self.maxDepth)") }
        }

        func error(_ reason: String) -> InvariantSyntaxError {
            InvariantSyntaxError(column: pos < tokens.count ? tokens[pos].column : textLength + 1, reason: reason)
        }

        func peekOp(_ s: String) -> Bool {
            if pos < tokens.count, case let .op(o) = tokens[pos].kind, o == s { return true }
            return false
        }

        mutating func expr() throws(InvariantSyntaxError) -> InvariantExpr {
            var l = try andExpr()
            while peekOp("||") { pos += 1; l = .or(l, try andExpr()) }
            return l
        }

        mutating func andExpr() throws(InvariantSyntaxError) -> InvariantExpr {
            var l = try unary()
            while peekOp("&&") { pos += 1; l = .and(l, try unary()) }
            return l
        }

        mutating func unary() throws(InvariantSyntaxError) -> InvariantExpr {
            try enter()
            defer { depth -= 1 }
            if peekOp("!") { pos += 1; return .not(try unary()) }
            if peekOp("(") {
                // A parenthesis may open a boolean group or an arithmetic one: try boolean first.
                let save = pos
                pos += 1
                if let e = try? expr(), peekOp(")") {
                    pos += 1
                    if !isComparisonOrArithmeticNext() { return e }
                }
                pos = save
            }
            return try comparison()
        }

        func isComparisonOrArithmeticNext() -> Bool {
            ["<=", ">=", "<", ">", "==", "!=", "+", "-", "*"].contains { peekOp($0) }
        }

        mutating func comparison() throws(InvariantSyntaxError) -> InvariantExpr {
            let l = try sum()
            guard pos < tokens.count, case let .op(o) = tokens[pos].kind, let op = CompareOp(rawValue: o) else {
                throw error("expected a comparison (<=, >=, <, >, ==, !=)")
            }
            pos += 1
            let r = try sum()
            return .compare(l, op, r)
        }

        mutating func sum() throws(InvariantSyntaxError) -> LinearTerm {
            var t = try product()
            while peekOp("+") || peekOp("-") {
                let minus = peekOp("-")
                pos += 1
                let col = pos < tokens.count ? tokens[pos].column : textLength + 1
                let r = try product()
                t = try add(t, minus ? negated(r) : r, column: col)
            }
            return t
        }

        func negated(_ t: LinearTerm) -> LinearTerm {
            LinearTerm(coefficients: t.coefficients.mapValues { -$0 }, constant: -t.constant)
        }

        func add(_ a: LinearTerm, _ b: LinearTerm, column: Int) throws(InvariantSyntaxError) -> LinearTerm {
            var out = a
            for (k, v) in b.coefficients {
                guard let s = out.coefficients[k, default: .zero].adding(v) else { throw tooBig(column) }
                out.coefficients[k] = s
            }
            guard let c = out.constant.adding(b.constant) else { throw tooBig(column) }
            out.constant = c
            return out
        }

        func tooBig(_ column: Int) -> InvariantSyntaxError {
            InvariantSyntaxError(column: column, reason: "constant beyond \(ExactDecimal.maxDigits) digits or exponent \(ExactDecimal.maxExponent)")
        }

        mutating func product() throws(InvariantSyntaxError) -> LinearTerm {
            var negate = false
            if peekOp("-") { pos += 1; negate = true }
            var t = try atom()
            while peekOp("*") {
                pos += 1
                let col = pos < tokens.count ? tokens[pos].column : textLength + 1
                let r = try atom()
                if t.coefficients.isEmpty {
                    t = try scale(r, t.constant, column: col)
                } else if r.coefficients.isEmpty {
                    t = try scale(t, r.constant, column: col)
                } else {
                    throw InvariantSyntaxError(column: col, reason: "product of two variables is not linear")
                }
            }
            return negate ? negated(t) : t
        }

        func scale(_ t: LinearTerm, _ k: ExactDecimal, column: Int) throws(InvariantSyntaxError) -> LinearTerm {
            var out = LinearTerm()
            for (name, v) in t.coefficients {
                guard let p = v.multiplied(by: k) else { throw tooBig(column) }
                out.coefficients[name] = p
            }
            guard let c = t.constant.multiplied(by: k) else { throw tooBig(column) }
            out.constant = c
            return out
        }

        mutating func atom() throws(InvariantSyntaxError) -> LinearTerm {
            guard pos < tokens.count else { throw error("unexpected end of invariant") }
            let t = tokens[pos]
            switch t.kind {
            case let .number(d): pos += 1; return LinearTerm(constant: d)
            case let .ident(s): pos += 1; return LinearTerm(coefficients: [s: 1])
            case .op("("):
                pos += 1
                try enter()
                defer { depth -= 1 }
                let e = try sum()
                guard peekOp(")") else { throw error("expected ')'") }
                pos += 1
                return e
            default: throw error("expected a number or a variable")
            }
        }
    }
}
