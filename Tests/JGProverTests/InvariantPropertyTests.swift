import JGPolicy
import JGPolicyYAML
import JGProverCore
import Testing
import JGTestSupport


enum Gen {
    static let names = ["x", "y", "spend", "fused_risk", "trust_score", "a_b.c", "_z9"]

    static func decimal(_ r: inout SeededRandom) -> ExactDecimal {
        let ints = ["0", "1", "2", "7", "10", "150", "99.5", "0.1", "0.25", "1e3", "2.5e-4", "123456789.987654321", "1e30"]
        var k = ExactDecimal(ints[Int(r.next() % UInt64(ints.count))]) ?? .zero
        if r.next() % 3 == 0 { k = -k }
        return k
    }

    static func term(_ r: inout SeededRandom) -> LinearTerm {
        var t = LinearTerm()
        for _ in 0..<Int(r.next() % 3) { t.coefficients[names[Int(r.next() % UInt64(names.count))]] = decimal(&r) }
        if t.coefficients.isEmpty || r.next() % 2 == 0 { t.constant = decimal(&r) }
        return t
    }

    static func expr(_ r: inout SeededRandom, depth: Int = 0) -> InvariantExpr {
        let pick = depth > 3 ? 0 : r.next() % 5
        switch pick {
        case 1: return .and(expr(&r, depth: depth + 1), expr(&r, depth: depth + 1))
        case 2: return .or(expr(&r, depth: depth + 1), expr(&r, depth: depth + 1))
        case 3: return .not(expr(&r, depth: depth + 1))
        default:
            let op = CompareOp.allCases[Int(r.next() % UInt64(CompareOp.allCases.count))]
            return .compare(term(&r), op, term(&r))
        }
    }
}

@Suite struct InvariantPropertyTests {
    @Test func printedExpressionsReparseToTheSameTree() throws {
        var r = SeededRandom(state: 42)
        for _ in 0..<2_000 {
            let e = Gen.expr(&r)
            let text = e.description
            let back = try InvariantParser.parse(text)
            #expect(back == e, "\(text)")
            #expect(back.description == text)
        }
    }

    @Test func randomBytesNeverCrash() {
        var r = SeededRandom(state: 7)
        let alphabet = Array("xy_01.9eE+-*()<>=!&| \t\u{00e9}\u{0661}\u{00bd}")
        var rejected = 0
        for i in 0..<20_000 {
            let n = Int(r.next() % 40)
            var s = ""
            if i % 2 == 0 {
                // Raw bytes, decoded leniently: every kind of garbage.
                let bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: r.next()) }
                s = String(decoding: bytes, as: UTF8.self)
            } else {
                // Near-grammatical noise reaches deeper into the parser.
                for _ in 0..<n { s.append(alphabet[Int(r.next() % UInt64(alphabet.count))]) }
            }
            do {
                let e = try InvariantParser.parse(s)
                // Whatever parses prints to something that parses to the same tree.
                #expect((try? InvariantParser.parse(e.description)) == e, "\(s)")
            } catch {
                rejected += 1
                #expect(error.column >= 1 && error.column <= s.count + 1, "\(s): column \(error.column)")
            }
        }
        #expect(rejected > 0)
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let deep = String(repeating: "(", count: 10_000) + "x" + String(repeating: ")", count: 10_000) + " <= 1"
        #expect(throws: InvariantSyntaxError.self) { try InvariantParser.parse(deep) }
        let nots = String(repeating: "!", count: 10_000) + "x <= 1"
        #expect(throws: InvariantSyntaxError.self) { try InvariantParser.parse(nots) }
        #expect((try? InvariantParser.parse(String(repeating: "(", count: 30) + "x <= 1" + String(repeating: ")", count: 30))) != nil)
    }

    @Test func errorsCarryColumns() {
        func column(_ s: String) -> Int? {
            do { _ = try InvariantParser.parse(s); return nil } catch { return error.column }
        }
        #expect(column("x <= ") == 6)
        #expect(column("x # 3") == 3)
        #expect(column("x * y <= 3") == 5)
        #expect(column("x <= 3 &&") == 10)
    }

    @Test func policyErrorsCarryLineAndColumn() {
        let y = "global_safety_ceiling: 90\nagent_nodes:\n  - id: a\n    privilege_tier: 1\n    invariants:\n      - \"x <= \"\n"
        do {
            _ = try PolicyLoader.load(text: y, sourceName: "p.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 6)
            #expect(error.column > 0)
            #expect(error.description.hasPrefix("p.yaml:6:"))
        }
    }

    @Test func exactDecimals() throws {
        let a = try #require(ExactDecimal("0.1")), b = try #require(ExactDecimal("0.2")), c = try #require(ExactDecimal("0.3"))
        #expect(a.adding(b) == c)
        #expect(0.1 + 0.2 != 0.3)  // the Double behaviour this type exists to avoid
        #expect(ExactDecimal("1.50") == ExactDecimal("15e-1"))
        #expect(ExactDecimal("-0") == .zero)
        #expect((ExactDecimal("2.5")?.multiplied(by: try #require(ExactDecimal("-0.4")))) == -1)
        #expect(try #require(ExactDecimal("0.1")).rationalString == "1/10")
        #expect(try #require(ExactDecimal("-1.25e3")).rationalString == "-1250")
        #expect(try #require(ExactDecimal("0.003")).description == "0.003")
        #expect(ExactDecimal("1e5000") == nil)
        #expect(ExactDecimal("1.2.3") == nil)
        #expect(ExactDecimal(0.1) == a)
        #expect(try #require(ExactDecimal("-2")) < .zero)
        #expect(try #require(ExactDecimal("0.09")) < a)
        // Parsed terms combine exactly.
        let e = try InvariantParser.parse("0.1 + 0.2 == 0.3")
        guard case let .compare(l, .eq, r) = e else { Issue.record("shape"); return }
        #expect(l.constant == r.constant)
        let f = try InvariantParser.parse("0.1*x + 0.2*x <= 0.3*x")
        guard case let .compare(l2, _, r2) = f else { Issue.record("shape"); return }
        #expect(l2.coefficients["x"] == r2.coefficients["x"])
    }

    @Test func exactDecimalsReachTheEngine() throws {
        // 3*0.1 is exactly 0.3 in the engine: x = 0.3 satisfies "x == 0.1 + 0.1 + 0.1".
        let e = try engine(["x == 0.1 + 0.1 + 0.1", "0.1*y + 0.2*y == 0.3*y"])
        #expect(e.check(agentID: "a", values: ["x": 0.3, "y": 7, "fused_risk": 0]).verdict == .holds)
        #expect(e.check(agentID: "a", values: ["x": 0.30000000000000004, "y": 7, "fused_risk": 0]).verdict == .violation)
    }
}
