import CZ3
import JGPolicy

/// A Z3 failure during analysis (an API error or an `unknown` answer).
struct Z3Failure: Error, Sendable {
    var reason: String
}

/// Formula building for analysis (`PolicyAnalyzer`, `PolicyDiff`) on one Z3 context: the engine's
/// when one is given (one context per process), else its own. Every AST handed out is reference
/// counted into an arena that callers clear between agents, so memory stays flat over 1,000 agents.
/// Not thread-safe, like the engine.
final class Z3Session {
    let ctx: Z3_context
    private let ownsContext: Bool
    /// Keeps a lent context's engine alive for as long as this session uses its context.
    private let owner: ProverEngine?
    let realSort: Z3_sort
    let boolSort: Z3_sort
    private var vars: [String: Z3_ast] = [:]
    private var arena: [Z3_ast] = []

    init(engine: ProverEngine?) {
        if let engine {
            ctx = engine.z3Context
            ownsContext = false
        } else {
            let cfg = Z3_mk_config()
            ctx = Z3_mk_context_rc(cfg)!
            Z3_del_config(cfg)
            // The default handler aborts the process; every call site checks the error code instead.
            Z3_set_error_handler(ctx) { _, _ in }
            ownsContext = true
        }
        owner = engine
        let r = Z3_mk_real_sort(ctx)!
        Z3_inc_ref(ctx, Z3_sort_to_ast(ctx, r))
        realSort = r
        let b = Z3_mk_bool_sort(ctx)!
        Z3_inc_ref(ctx, Z3_sort_to_ast(ctx, b))
        boolSort = b
    }

    deinit {
        clearArena()
        for v in vars.values { Z3_dec_ref(ctx, v) }
        Z3_dec_ref(ctx, Z3_sort_to_ast(ctx, realSort))
        Z3_dec_ref(ctx, Z3_sort_to_ast(ctx, boolSort))
        if ownsContext { Z3_del_context(ctx) }
    }

    func errorText() -> String? {
        let code = Z3_get_error_code(ctx)
        guard code != Z3_OK else { return nil }
        return Z3_get_error_msg(ctx, code).map { String(cString: $0) } ?? "error \(code.rawValue)"
    }

    /// Checks the last call, then keeps `x` alive until `clearArena`.
    func keep(_ x: Z3_ast?, _ what: String) throws(Z3Failure) -> Z3_ast {
        if let e = errorText() { throw Z3Failure(reason: "Z3 error while \(what): \(e)") }
        guard let x else { throw Z3Failure(reason: "Z3 returned nothing while \(what)") }
        Z3_inc_ref(ctx, x)
        arena.append(x)
        return x
    }

    func clearArena() {
        for a in arena { Z3_dec_ref(ctx, a) }
        arena.removeAll(keepingCapacity: true)
    }

    // MARK: Terms

    func variable(_ name: String) throws(Z3Failure) -> Z3_ast {
        if let v = vars[name] { return v }
        let c = Z3_mk_const(ctx, Z3_mk_string_symbol(ctx, name), realSort)
        if let e = errorText() { throw Z3Failure(reason: "Z3 error while declaring \(name): \(e)") }
        guard let c else { throw Z3Failure(reason: "Z3 returned nothing while declaring \(name)") }
        Z3_inc_ref(ctx, c)
        vars[name] = c
        return c
    }

    func num(_ k: ExactDecimal) throws(Z3Failure) -> Z3_ast {
        try keep(Z3_mk_numeral(ctx, k.rationalString, realSort), "making numeral \(k)")
    }

    func num(_ d: Double) throws(Z3Failure) -> Z3_ast {
        guard let k = ExactDecimal(d) else { throw Z3Failure(reason: "non-finite constant \(d)") }
        return try num(k)
    }

    func term(_ t: LinearTerm) throws(Z3Failure) -> Z3_ast {
        var parts: [Z3_ast?] = []
        for (name, k) in t.coefficients.sorted(by: { $0.key < $1.key }) {
            let v = try variable(name)
            if k == 1 {
                parts.append(v)
            } else {
                var args: [Z3_ast?] = [try num(k), v]
                parts.append(try keep(Z3_mk_mul(ctx, 2, &args), "building a product"))
            }
        }
        if !t.constant.isZero || parts.isEmpty { parts.append(try num(t.constant)) }
        if parts.count == 1, let p = parts[0] { return p }
        return try keep(Z3_mk_add(ctx, UInt32(parts.count), &parts), "building a sum")
    }

    func compare(_ x: Z3_ast, _ op: CompareOp, _ y: Z3_ast) throws(Z3Failure) -> Z3_ast {
        switch op {
        case .le: return try keep(Z3_mk_le(ctx, x, y), "building <=")
        case .ge: return try keep(Z3_mk_ge(ctx, x, y), "building >=")
        case .lt: return try keep(Z3_mk_lt(ctx, x, y), "building <")
        case .gt: return try keep(Z3_mk_gt(ctx, x, y), "building >")
        case .eq: return try keep(Z3_mk_eq(ctx, x, y), "building ==")
        case .ne: return try not(try keep(Z3_mk_eq(ctx, x, y), "building !="))
        }
    }

    func formula(_ e: InvariantExpr) throws(Z3Failure) -> Z3_ast {
        switch e {
        case let .compare(l, op, r): return try compare(try term(l), op, try term(r))
        case let .and(p, q): return try and([try formula(p), try formula(q)])
        case let .or(p, q): return try or([try formula(p), try formula(q)])
        case let .not(p): return try not(try formula(p))
        }
    }

    func and(_ xs: [Z3_ast]) throws(Z3Failure) -> Z3_ast {
        if xs.isEmpty { return try keep(Z3_mk_true(ctx), "building true") }
        if xs.count == 1 { return xs[0] }
        var args: [Z3_ast?] = xs
        return try keep(Z3_mk_and(ctx, UInt32(args.count), &args), "building &&")
    }

    func or(_ xs: [Z3_ast]) throws(Z3Failure) -> Z3_ast {
        if xs.isEmpty { return try keep(Z3_mk_false(ctx), "building false") }
        if xs.count == 1 { return xs[0] }
        var args: [Z3_ast?] = xs
        return try keep(Z3_mk_or(ctx, UInt32(args.count), &args), "building ||")
    }

    func not(_ x: Z3_ast) throws(Z3Failure) -> Z3_ast { try keep(Z3_mk_not(ctx, x), "building !") }

    func implies(_ a: Z3_ast, _ b: Z3_ast) throws(Z3Failure) -> Z3_ast { try keep(Z3_mk_implies(ctx, a, b), "building =>") }

    func isInt(_ x: Z3_ast) throws(Z3Failure) -> Z3_ast { try keep(Z3_mk_is_int(ctx, x), "building is_int") }

    func tracker(_ prefix: String) throws(Z3Failure) -> Z3_ast {
        try keep(Z3_mk_fresh_const(ctx, prefix, boolSort), "making a tracker")
    }

    // MARK: Background facts

    /// What the daemon guarantees about its own variables (GateDecider.authoritative, RiskScorer):
    /// true in every state a request can reach, so analysis never reports impossible states.
    /// Kept deliberately weak where the code could change (e.g. decisions_seen >= 0, not >= 1).
    func genericAxioms() throws(Z3Failure) -> Z3_ast {
        let fr = try variable("fused_risk"), ts = try variable("trust_score")
        let sem = try variable("semantic_risk"), obs = try variable("observed_risk"), topo = try variable("topology_risk")
        let maxr = try variable("max_assessed_risk"), root = try variable("is_root"), seen = try variable("decisions_seen")
        let tier = try variable("privilege_tier"), depth = try variable("privilege_escalation_depth")
        let zero = try num(0 as ExactDecimal), one = try num(1 as ExactDecimal), hundred = try num(100 as ExactDecimal)
        var fr100: [Z3_ast?] = [hundred, fr]
        let facts: [Z3_ast] = [
            // fused is clamped to 0…100 and trust is its complement.
            try compare(zero, .le, fr), try compare(fr, .le, hundred),
            try compare(ts, .eq, try keep(Z3_mk_sub(ctx, 2, &fr100), "building 100 - fused_risk")),
            // fused = max(weighted, semantic, observed, declared) clamped; semantic ≤ 90, observed ≤ 100.
            try compare(zero, .le, sem), try compare(sem, .le, fr),
            try compare(zero, .le, obs), try compare(obs, .le, fr),
            try compare(zero, .le, topo), try compare(topo, .le, hundred),
            // the session maximum includes the current request.
            try compare(fr, .le, maxr), try compare(maxr, .le, hundred),
            try or([try compare(root, .eq, zero), try compare(root, .eq, one)]),
            try compare(zero, .le, seen), try isInt(seen),
            try compare(zero, .le, tier), try isInt(tier),
            // depth = is_root × decisions_seen, made linear by cases.
            try or([try and([try compare(root, .eq, zero), try compare(depth, .eq, zero)]),
                    try and([try compare(root, .eq, one), try compare(depth, .eq, seen)])]),
        ]
        return try and(facts)
    }

    // MARK: Solvers

    func makeSolver() throws(Z3Failure) -> Z3Solver {
        let s = Z3_mk_simple_solver(ctx)
        if let e = errorText() { throw Z3Failure(reason: "Z3 error while creating a solver: \(e)") }
        guard let s else { throw Z3Failure(reason: "Z3 returned no solver") }
        Z3_solver_inc_ref(ctx, s)
        let solver = Z3Solver(session: self, solver: s)
        // Models on even when the context default is off (the engine's context); a wall-clock bound
        // only as a safety net: these formulas are small linear real arithmetic.
        let params = Z3_mk_params(ctx)
        Z3_params_inc_ref(ctx, params)
        Z3_params_set_bool(ctx, params, Z3_mk_string_symbol(ctx, "model"), true)
        Z3_params_set_uint(ctx, params, Z3_mk_string_symbol(ctx, "timeout"), 10_000)
        Z3_solver_set_params(ctx, s, params)
        Z3_params_dec_ref(ctx, params)
        if let e = errorText() { throw Z3Failure(reason: "Z3 error while configuring a solver: \(e)") }
        return solver
    }
}

enum SatResult { case sat, unsat }

/// One solver of a session: push/pop, assertions, checks under assumptions, cores and models.
final class Z3Solver {
    let session: Z3Session
    let solver: Z3_solver
    var ctx: Z3_context { session.ctx }

    init(session: Z3Session, solver: Z3_solver) {
        self.session = session
        self.solver = solver
    }

    deinit { Z3_solver_dec_ref(ctx, solver) }

    func push() { Z3_solver_push(ctx, solver) }
    func pop() { Z3_solver_pop(ctx, solver, 1) }

    func assert(_ f: Z3_ast) throws(Z3Failure) {
        Z3_solver_assert(ctx, solver, f)
        if let e = session.errorText() { throw Z3Failure(reason: "Z3 error while asserting: \(e)") }
    }

    /// sat or unsat; Z3's unknown (timeout, resource limit) is a failure: analysis must not guess.
    func check(_ assumptions: [Z3_ast]) throws(Z3Failure) -> SatResult {
        var a: [Z3_ast?] = assumptions
        let r = Z3_solver_check_assumptions(ctx, solver, UInt32(a.count), &a)
        if let e = session.errorText() { throw Z3Failure(reason: "Z3 error while checking: \(e)") }
        if r == Z3_L_TRUE { return .sat }
        if r == Z3_L_FALSE { return .unsat }
        let why = Z3_solver_get_reason_unknown(ctx, solver).map { String(cString: $0) } ?? "unknown"
        throw Z3Failure(reason: "Z3 could not decide (\(why))")
    }

    /// The assumptions in the last unsat core, as indexes into `candidates`.
    func core(among candidates: [Z3_ast]) throws(Z3Failure) -> [Int] {
        guard let v = Z3_solver_get_unsat_core(ctx, solver), session.errorText() == nil else {
            throw Z3Failure(reason: "Z3 error while reading an unsat core: \(session.errorText() ?? "none")")
        }
        Z3_ast_vector_inc_ref(ctx, v)
        defer { Z3_ast_vector_dec_ref(ctx, v) }
        var out: [Int] = []
        for k in 0..<Z3_ast_vector_size(ctx, v) {
            let a = Z3_ast_vector_get(ctx, v, k)
            if let i = candidates.firstIndex(where: { $0 == a }) { out.append(i) }
        }
        return out.sorted()
    }

    /// Deletion-based minimisation: `fixed` are always assumed; the result is a subset of `core`
    /// (indexes into `candidates`) that is still unsat with `fixed` and from which no single
    /// element can be dropped — a minimal (not necessarily minimum) unsatisfiable subset.
    func minimise(core: [Int], candidates: [Z3_ast], fixed: [Z3_ast]) throws(Z3Failure) -> [Int] {
        var keep = core
        var i = 0
        while i < keep.count {
            var trial = keep
            trial.remove(at: i)
            if try check(fixed + trial.map { candidates[$0] }) == .unsat {
                // The fresh core of the smaller set may drop several more at once. Every element
                // already found necessary (keep[0..<i]) is in it — an unsat subset of a set must
                // contain each element whose removal made that set sat — so `i` stays valid.
                let c = try self.core(among: candidates).filter { trial.contains($0) }
                keep = c.isEmpty ? trial : c
            } else {
                i += 1
            }
        }
        return keep
    }

    /// Values of `names` in the last model (sat after `check`), each exact.
    func model(for names: [String]) throws(Z3Failure) -> [ModelValue] {
        guard let m = Z3_solver_get_model(ctx, solver), session.errorText() == nil else {
            throw Z3Failure(reason: "Z3 error while reading a model: \(session.errorText() ?? "none")")
        }
        Z3_model_inc_ref(ctx, m)
        defer { Z3_model_dec_ref(ctx, m) }
        var out: [ModelValue] = []
        for n in names {
            let v = try session.variable(n)
            var r: Z3_ast?
            guard Z3_model_eval(ctx, m, v, true, &r), let r else {
                throw Z3Failure(reason: "Z3 could not evaluate \(n) in a model")
            }
            Z3_inc_ref(ctx, r)
            defer { Z3_dec_ref(ctx, r) }
            let text = Z3_get_numeral_string(ctx, r).map { String(cString: $0) } ?? "?"
            out.append(ModelValue(name: n, rational: text))
        }
        return out
    }

    /// Whether `f` is true in the last model.
    func holdsInModel(_ f: Z3_ast) throws(Z3Failure) -> Bool {
        guard let m = Z3_solver_get_model(ctx, solver), session.errorText() == nil else {
            throw Z3Failure(reason: "Z3 error while reading a model")
        }
        Z3_model_inc_ref(ctx, m)
        defer { Z3_model_dec_ref(ctx, m) }
        var r: Z3_ast?
        guard Z3_model_eval(ctx, m, f, true, &r), let r else { throw Z3Failure(reason: "Z3 could not evaluate a formula") }
        Z3_inc_ref(ctx, r)
        defer { Z3_dec_ref(ctx, r) }
        return Z3_get_bool_value(ctx, r) == Z3_L_TRUE
    }
}

/// One variable's value in a counterexample: exact, as Z3 gives it.
public struct ModelValue: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    /// `N`, `-N` or `N/D` (Z3's exact rational).
    public var rational: String

    /// Exact decimal when the rational has one (denominator 2^a·5^b), else nil.
    public var decimal: ExactDecimal? {
        let parts = rational.split(separator: "/")
        guard let n = ExactDecimal(String(parts[0])) else { return nil }
        if parts.count == 1 { return n }
        guard parts.count == 2, var d = Int(parts[1]), d > 0 else { return nil }
        // 1/d as a finite decimal: multiply by 10 until the denominator divides.
        var scale = 0
        while d % 2 == 0 { d /= 2; scale += 1 }
        var twos = 0
        while d % 5 == 0 { d /= 5; twos += 1 }
        guard d == 1 else { return nil }
        // n / (2^a 5^b) = n · 5^a · 2^b / 10^max(a,b) after balancing.
        let a = scale, b = twos
        var factor = ExactDecimal(integerLiteral: 1)
        for _ in 0..<a { factor = factor.multiplied(by: 5) ?? factor }
        for _ in 0..<b { factor = factor.multiplied(by: 2) ?? factor }
        guard var v = n.multiplied(by: factor) else { return nil }
        let tenth = ExactDecimal("0.1") ?? .zero
        for _ in 0..<(a + b) { guard let w = v.multiplied(by: tenth) else { return nil }; v = w }
        return v
    }

    /// The nearest Double (for feeding a counterexample back into `ProverEngine.check`).
    public var doubleValue: Double {
        if let d = decimal { return d.doubleValue }
        let parts = rational.split(separator: "/")
        guard parts.count == 2, let n = Double(parts[0]), let d = Double(parts[1]), d != 0 else { return .nan }
        return n / d
    }

    /// `name=12.5`, or `name=1/3 (≈0.3333333333333333)` when no finite decimal exists.
    public var description: String {
        if let d = decimal { return "\(name)=\(d)" }
        return "\(name)=\(rational) (≈\(doubleValue))"
    }
}
