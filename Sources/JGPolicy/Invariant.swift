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

public enum CompareOp: String, Sendable, Equatable {
    case le = "<=", ge = ">=", lt = "<", gt = ">", eq = "==", ne = "!="
}

/// Σ coefficient·variable + constant.
public struct LinearTerm: Sendable, Equatable {
    public var coefficients: [String: Double]
    public var constant: Double
    public init(coefficients: [String: Double] = [:], constant: Double = 0) {
        self.coefficients = coefficients
        self.constant = constant
    }
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
        enum Kind { case number(Double), ident(String), op(String) }
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
                guard let d = Double(s), d.isFinite else { throw InvariantSyntaxError(column: col, reason: "bad number '\(s)'") }
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
                let r = try product()
                t = add(t, r, sign: minus ? -1 : 1)
            }
            return t
        }

        func add(_ a: LinearTerm, _ b: LinearTerm, sign: Double) -> LinearTerm {
            var out = a
            for (k, v) in b.coefficients { out.coefficients[k, default: 0] += sign * v }
            out.constant += sign * b.constant
            return out
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
                    t = scale(r, t.constant)
                } else if r.coefficients.isEmpty {
                    t = scale(t, r.constant)
                } else {
                    throw InvariantSyntaxError(column: col, reason: "product of two variables is not linear")
                }
            }
            return negate ? scale(t, -1) : t
        }

        func scale(_ t: LinearTerm, _ k: Double) -> LinearTerm {
            LinearTerm(coefficients: t.coefficients.mapValues { $0 * k }, constant: t.constant * k)
        }

        mutating func atom() throws(InvariantSyntaxError) -> LinearTerm {
            guard pos < tokens.count else { throw error("unexpected end of invariant") }
            let t = tokens[pos]
            switch t.kind {
            case let .number(d): pos += 1; return LinearTerm(constant: d)
            case let .ident(s): pos += 1; return LinearTerm(coefficients: [s: 1])
            case .op("("):
                pos += 1
                let e = try sum()
                guard peekOp(")") else { throw error("expected ')'") }
                pos += 1
                return e
            default: throw error("expected a number or a variable")
            }
        }
    }
}
