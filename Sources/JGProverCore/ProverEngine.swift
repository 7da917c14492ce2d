import CZ3
import JGPolicy

// Why one Z3 context for the life of the engine ("lifetime-anchored"): building a context costs
// milliseconds; a kept context with each agent's invariants compiled once answers in microseconds.
// The context is created with reference counting (Z3_mk_context_rc) so per-request numerals are
// freed, not pooled until the context dies: every AST kept by Swift is inc_ref'd and dec_ref'd.

/// A policy the prover could not compile. `line` is the policy-file line of the offending invariant.
public struct ProverLoadError: Error, Sendable, CustomStringConvertible {
    public var line: Int
    public var reason: String
    public init(line: Int, reason: String) {
        self.line = line
        self.reason = reason
    }
    public var description: String { "line \(line): \(reason)" }
}

public enum ProverVerdict: String, Sendable {
    case holds, violation, ceilingExceeded, unknown
}

public struct ProverOutcome: Sendable {
    public var verdict: ProverVerdict
    /// Texts of the violated invariants, in policy order.
    public var violated: [String]
    /// One line, human readable.
    public var explanation: String
    public init(verdict: ProverVerdict, violated: [String] = [], explanation: String) {
        self.verdict = verdict
        self.violated = violated
        self.explanation = explanation
    }
}

/// Checks per-agent invariants and the global safety ceiling in Z3 (linear real arithmetic).
/// Not thread-safe: use from one thread (or one actor/queue).
public final class ProverEngine {
    private let ctx: Z3_context
    private let realSort: Z3_sort
    private let rlimit: UInt32
    private var agents: [String: CompiledAgent] = [:]
    private var loaded = false
    private let mode: CheckMode
    /// Scratch buffers, reused across requests.
    private var assumptions: [Z3_ast?] = []

    /// How request-time checks are decided. Both give the same verdicts (tested); `.solver` exists to
    /// cross-check `.ground` and for the benchmark.
    public enum CheckMode: Sendable { case ground, solver }

    /// `rlimit` bounds each solver check (Z3's deterministic resource counter).
    public init(rlimit: UInt32 = 2_000_000, mode: CheckMode = .ground) {
        self.rlimit = rlimit
        self.mode = mode
        let cfg = Z3_mk_config()
        Z3_set_param_value(cfg, "model", "false")
        ctx = Z3_mk_context_rc(cfg)!
        Z3_del_config(cfg)
        // Z3's default handler aborts the process; ours records nothing and every call site checks
        // Z3_get_error_code instead.
        Z3_set_error_handler(ctx) { _, _ in }
        let s = Z3_mk_real_sort(ctx)!
        Z3_inc_ref(ctx, Z3_sort_to_ast(ctx, s))
        realSort = s
    }

    deinit {
        for a in agents.values { a.release(ctx) }
        agents = [:]
        Z3_dec_ref(ctx, Z3_sort_to_ast(ctx, realSort))
        Z3_del_context(ctx)
    }

    public var policyLoaded: Bool { loaded }

    /// The engine's context, lent to policy analysis so that one process keeps one Z3 context.
    var z3Context: Z3_context { ctx }

    // MARK: Load

    /// Compiles every agent's invariants into Z3 terms, once. (The agent's solver, which guards each item
    /// by a tracking literal so an unsat core names it, is built only if a check ever needs it.) The
    /// previous policy is replaced only on success.
    public func load(policy: Policy) throws(ProverLoadError) {
        let ceiling = policy.globalSafetyCeiling
        guard ceiling.isFinite else {
            throw ProverLoadError(line: 1, reason: "global_safety_ceiling is not finite")
        }
        var built: [String: CompiledAgent] = [:]
        do throws(ProverLoadError) {
            for a in policy.agents {
                guard built[a.id] == nil else {
                    throw ProverLoadError(line: a.line, reason: "duplicate agent id \"\(a.id)\"")
                }
                built[a.id] = try compile(agent: a, ceiling: ceiling)
            }
        } catch {
            for b in built.values { b.release(ctx) }
            throw error
        }
        for old in agents.values { old.release(ctx) }
        agents = built
        loaded = true
    }

    private func zerr(_ line: Int, _ what: String) -> ProverLoadError? {
        let code = Z3_get_error_code(ctx)
        guard code != Z3_OK else { return nil }
        let msg = Z3_get_error_msg(ctx, code).map { String(cString: $0) } ?? "error \(code.rawValue)"
        return ProverLoadError(line: line, reason: "Z3 error while \(what): \(msg)")
    }

    private func compile(agent a: AgentPolicy, ceiling: Double) throws(ProverLoadError) -> CompiledAgent {
        let agent = CompiledAgent()
        // Intermediate ASTs are kept alive (inc_ref) until compilation ends; what the agent keeps it
        // references itself.
        var temps: [Z3_ast] = []
        defer { for t in temps { Z3_dec_ref(ctx, t) } }

        func keep(_ x: Z3_ast?, _ line: Int, _ what: String) throws(ProverLoadError) -> Z3_ast {
            if let e = zerr(line, what) { throw e }
            guard let x else { throw ProverLoadError(line: line, reason: "Z3 returned nothing while \(what)") }
            Z3_inc_ref(ctx, x)
            temps.append(x)
            return x
        }

        do throws(ProverLoadError) {
            func variable(_ name: String, _ line: Int) throws(ProverLoadError) -> Z3_ast {
                if let i = agent.slots[name] { return agent.consts[i] }
                let sym = Z3_mk_string_symbol(ctx, name)
                let c = try keep(Z3_mk_const(ctx, sym, realSort), line, "declaring \(name)")
                Z3_inc_ref(ctx, c)  // owned by the agent
                agent.slots[name] = agent.consts.count
                agent.consts.append(c)
                agent.varNames.append(name)
                return c
            }

            func numeral(_ d: Double, _ line: Int) throws(ProverLoadError) -> Z3_ast {
                guard d.isFinite else { throw ProverLoadError(line: line, reason: "a constant is not finite") }
                return try keep(Z3_mk_numeral(ctx, Self.rational(d), realSort), line, "making numeral \(d)")
            }

            func exact(_ k: ExactDecimal, _ line: Int) throws(ProverLoadError) -> Z3_ast {
                try keep(Z3_mk_numeral(ctx, k.rationalString, realSort), line, "making numeral \(k)")
            }

            func term(_ t: LinearTerm, _ line: Int) throws(ProverLoadError) -> Z3_ast {
                var parts: [Z3_ast?] = []
                for (name, k) in t.coefficients.sorted(by: { $0.key < $1.key }) {
                    let v = try variable(name, line)
                    if k == 1 {
                        parts.append(v)
                    } else {
                        var args: [Z3_ast?] = [try exact(k, line), v]
                        parts.append(try keep(Z3_mk_mul(ctx, 2, &args), line, "building a product"))
                    }
                }
                if !t.constant.isZero || parts.isEmpty { parts.append(try exact(t.constant, line)) }
                if parts.count == 1 { return parts[0]! }
                return try keep(Z3_mk_add(ctx, UInt32(parts.count), &parts), line, "building a sum")
            }

            func formula(_ e: InvariantExpr, _ line: Int) throws(ProverLoadError) -> Z3_ast {
                switch e {
                case let .compare(l, op, r):
                    let x = try term(l, line), y = try term(r, line)
                    switch op {
                    case .le: return try keep(Z3_mk_le(ctx, x, y), line, "building <=")
                    case .ge: return try keep(Z3_mk_ge(ctx, x, y), line, "building >=")
                    case .lt: return try keep(Z3_mk_lt(ctx, x, y), line, "building <")
                    case .gt: return try keep(Z3_mk_gt(ctx, x, y), line, "building >")
                    case .eq: return try keep(Z3_mk_eq(ctx, x, y), line, "building ==")
                    case .ne:
                        let eq = try keep(Z3_mk_eq(ctx, x, y), line, "building !=")
                        return try keep(Z3_mk_not(ctx, eq), line, "building !=")
                    }
                case let .and(p, q):
                    var args: [Z3_ast?] = [try formula(p, line), try formula(q, line)]
                    return try keep(Z3_mk_and(ctx, 2, &args), line, "building &&")
                case let .or(p, q):
                    var args: [Z3_ast?] = [try formula(p, line), try formula(q, line)]
                    return try keep(Z3_mk_or(ctx, 2, &args), line, "building ||")
                case let .not(p):
                    return try keep(Z3_mk_not(ctx, try formula(p, line)), line, "building !")
                }
            }

            for inv in a.invariants {
                let body = try formula(inv.expression, inv.line)
                let vars = inv.expression.variables
                for v in vars { _ = try variable(v, inv.line) }
                Z3_inc_ref(ctx, body)  // owned by the agent
                agent.items.append(Item(text: inv.text, body: body, variables: vars))
            }
            // The global ceiling is the last item.
            let fr = try variable("fused_risk", a.line)
            let ceil = try keep(Z3_mk_le(ctx, fr, try numeral(ceiling, a.line)), a.line, "building the ceiling")
            Z3_inc_ref(ctx, ceil)
            agent.ceilingBody = ceil
            agent.ceiling = ceiling
            agent.line = a.line
            agent.itemStates = Array(repeating: .active, count: agent.items.count + 1)
            agent.itemValues = Array(repeating: 0, count: agent.varNames.count)
            agent.itemPresent = Array(repeating: false, count: agent.varNames.count)
            for i in agent.items.indices {
                agent.items[i].varIndexes = agent.items[i].variables.compactMap { agent.slots[$0] }
            }
            guard let fi = agent.slots["fused_risk"] else {
                throw ProverLoadError(line: a.line, reason: "fused_risk was not declared")
            }
            agent.fusedIndex = fi
            if mode == .solver {
                _ = try agent.solver(ctx, rlimit: rlimit)
            } else {
                for c in agent.consts {
                    agent.decls.append(Z3_get_app_decl(ctx, Z3_to_app(ctx, c)))
                    if let e = zerr(a.line, "reading a declaration") { throw e }
                }
                // Σ ite(item_i, 0, 2^i) over the items and the ceiling (bit 62 is the last that fits).
                let bodies = agent.items.map(\.body) + [ceil]
                if bodies.count <= 62 {
                    let intSort = Z3_mk_int_sort(ctx)
                    var terms: [Z3_ast?] = []
                    let zero = try keep(Z3_mk_int64(ctx, 0, intSort), a.line, "making 0")
                    for (i, b) in bodies.enumerated() {
                        let weight = try keep(Z3_mk_unsigned_int64(ctx, UInt64(1) << UInt64(i), intSort), a.line, "making a weight")
                        terms.append(try keep(Z3_mk_ite(ctx, b, zero, weight), a.line, "weighting an item"))
                    }
                    let sum = terms.count == 1 ? terms[0]! : try keep(Z3_mk_add(ctx, UInt32(terms.count), &terms), a.line, "summing the items")
                    Z3_inc_ref(ctx, sum)  // owned by the agent
                    agent.combined = sum
                }
            }
        } catch {
            agent.release(ctx)
            throw error
        }
        return agent
    }

    // MARK: Check

    /// Request-time check: the agent's invariants, then the global ceiling `fused_risk <= ceiling`.
    /// Fails closed: missing or non-finite values, unknown agents → violation; Z3 unknown/error → unknown.
    public func check(agentID: String, values: [String: Double]) -> ProverOutcome {
        guard loaded else { return ProverOutcome(verdict: .unknown, explanation: "no policy loaded in the prover") }
        guard let agent = agents[agentID] else {
            return ProverOutcome(verdict: .violation, explanation: "unknown agent \"\(agentID)\" (not in the policy)")
        }
        // 1. Gather values; refuse non-finite ones outright.
        for (i, name) in agent.varNames.enumerated() {
            if let v = values[name] {
                guard v.isFinite else {
                    let users = agent.items.filter { $0.variables.contains(name) }.map(\.text)
                    let what = users.isEmpty ? "global_safety_ceiling" : "invariant \"\(users[0])\""
                    return ProverOutcome(verdict: .violation, violated: users,
                                         explanation: "non-finite value \(v) for variable \"\(name)\" (\(what))")
                }
                agent.itemValues[i] = v
                agent.itemPresent[i] = true
            } else {
                agent.itemPresent[i] = false
            }
        }
        // 2. Items with a variable that has no value deny without asking Z3.
        let ceilingIndex = agent.items.count
        var missingMessages: [Int: String] = [:]
        for (i, item) in agent.items.enumerated() {
            if let m = item.varIndexes.first(where: { !agent.itemPresent[$0] }) {
                agent.itemStates[i] = .violated
                missingMessages[i] = "no value for variable \"\(agent.varNames[m])\" (invariant \"\(item.text)\")"
            } else {
                agent.itemStates[i] = .active
            }
        }
        if agent.itemPresent[agent.fusedIndex] {
            agent.itemStates[ceilingIndex] = .active
        } else {
            agent.itemStates[ceilingIndex] = .violated
            missingMessages[ceilingIndex] = "no value for variable \"fused_risk\" (global_safety_ceiling)"
        }
        // 3. Decide every active item.
        if let failure = mode == .ground ? decideGround(agent) : decideWithSolver(agent) { return failure }
        // 4. Report.
        var violated: [String] = []
        var parts: [String] = []
        for (i, item) in agent.items.enumerated() where agent.itemStates[i] == .violated {
            violated.append(item.text)
            if let m = missingMessages[i] {
                parts.append(m)
            } else {
                let vals = item.varIndexes.map { "\(agent.varNames[$0])=\(Self.format(agent.itemValues[$0]))" }
                parts.append("invariant \"\(item.text)\" violated: \(vals.joined(separator: ", "))")
            }
        }
        var ceilingExceeded = false
        if agent.itemStates[ceilingIndex] == .violated {
            if let m = missingMessages[ceilingIndex] {
                parts.append(m)
            } else {
                ceilingExceeded = true
                parts.append("fused_risk=\(Self.format(agent.itemValues[agent.fusedIndex])) > global_safety_ceiling=\(Self.format(agent.ceiling))")
            }
        }
        if parts.isEmpty {
            return ProverOutcome(verdict: .holds, explanation: "all \(agent.items.count) invariant(s) and the global safety ceiling hold")
        }
        let verdict: ProverVerdict = (!violated.isEmpty || !ceilingExceeded) ? .violation : .ceilingExceeded
        return ProverOutcome(verdict: verdict, violated: violated, explanation: parts.joined(separator: "; "))
    }

    /// Every variable has a value at request time, so each item is a ground formula: a Z3 model interprets
    /// each variable as its value (an exact rational) and Z3's model evaluator rewrites the compiled items —
    /// the same ASTs the policy analysis reasons about — to `true` or `false`, without a solver round trip.
    /// An item the evaluator leaves undecided goes to the incremental solver.
    private func decideGround(_ agent: CompiledAgent) -> ProverOutcome? {
        // A fresh model for every check: the evaluator keeps what it computed for shared subterms (Z3 shares
        // equal terms across invariants) for the life of the model, so a model reused with new values could
        // answer from an earlier request.
        guard let model = Z3_mk_model(ctx), Z3_get_error_code(ctx) == Z3_OK else { return unknownOutcome("creating a model") }
        Z3_model_inc_ref(ctx, model)
        defer { Z3_model_dec_ref(ctx, model) }
        for i in agent.varNames.indices where agent.itemPresent[i] {
            guard let n = agent.numeral(ctx, i, agent.itemValues[i], realSort) else {
                return unknownOutcome("building a value for \"\(agent.varNames[i])\"")
            }
            Z3_add_const_interp(ctx, model, agent.decls[i], n)
            if Z3_get_error_code(ctx) != Z3_OK { return unknownOutcome("interpreting \"\(agent.varNames[i])\"") }
        }
        // Usually one evaluation decides every item: the combined term is 2^i for each item i that is false.
        // Items with a variable that has no value were settled above; their part stays symbolic (no model
        // completion), which leaves the sum undecided and sends the check to the item-by-item path.
        if let combined = agent.combined {
            var result: Z3_ast?
            if Z3_model_eval(ctx, model, combined, false, &result), let result, Z3_get_error_code(ctx) == Z3_OK {
                Z3_inc_ref(ctx, result)
                var bits: UInt64 = 0
                let decided = Z3_is_numeral_ast(ctx, result) && Z3_get_numeral_uint64(ctx, result, &bits)
                Z3_dec_ref(ctx, result)
                if decided && Z3_get_error_code(ctx) == Z3_OK {
                    for i in agent.itemStates.indices where agent.itemStates[i] == .active {
                        agent.itemStates[i] = bits & (1 << UInt64(i)) != 0 ? .violated : .holds
                    }
                    return nil
                }
            }
        }
        var undecided = false
        for i in agent.itemStates.indices where agent.itemStates[i] == .active {
            let body = i < agent.items.count ? agent.items[i].body : agent.ceilingBody
            var result: Z3_ast?
            // No model completion: a variable without a value leaves the item undecided, never guessed.
            guard Z3_model_eval(ctx, model, body, false, &result), let result, Z3_get_error_code(ctx) == Z3_OK else {
                return unknownOutcome("evaluating")
            }
            Z3_inc_ref(ctx, result)
            switch Z3_get_bool_value(ctx, result) {
            case Z3_L_TRUE: agent.itemStates[i] = .holds
            case Z3_L_FALSE: agent.itemStates[i] = .violated
            default: undecided = true  // stays .active for the solver
            }
            Z3_dec_ref(ctx, result)
        }
        guard undecided else { return nil }
        // Items already decided are settled; only the undecided ones (still .active) reach the solver.
        return decideWithSolver(agent)
    }

    /// The incremental solver: the values asserted in a scope that is always popped, then
    /// `check_assumptions` over the tracking literals of the active items, peeling violated items off the
    /// unsat core until the rest is satisfiable. Bounded by the deterministic `rlimit`.
    private func decideWithSolver(_ agent: CompiledAgent) -> ProverOutcome? {
        let solver: Z3_solver
        do { solver = try agent.solver(ctx, rlimit: rlimit) } catch { return unknownOutcome("building the solver") }
        Z3_solver_push(ctx, solver)
        if Z3_get_error_code(ctx) != Z3_OK { return unknownOutcome("opening a scope") }
        defer { Z3_solver_pop(ctx, solver, 1) }
        for i in agent.varNames.indices where agent.itemPresent[i] {
            guard let eq = agent.equality(ctx, i, agent.itemValues[i], realSort) else {
                return unknownOutcome("building a value for \"\(agent.varNames[i])\"")
            }
            Z3_solver_assert(ctx, solver, eq)
            if Z3_get_error_code(ctx) != Z3_OK { return unknownOutcome("asserting a value") }
        }
        var rounds = 0
        while true {
            rounds += 1
            if rounds > agent.items.count + 3 { return ProverOutcome(verdict: .unknown, explanation: "Z3: core extraction did not converge") }
            assumptions.removeAll(keepingCapacity: true)
            for (i, st) in agent.itemStates.enumerated() where st == .active {
                assumptions.append(agent.tracker(i))
            }
            if assumptions.isEmpty { break }
            let r = Z3_solver_check_assumptions(ctx, solver, UInt32(assumptions.count), &assumptions)
            if Z3_get_error_code(ctx) != Z3_OK { return unknownOutcome("checking") }
            if r == Z3_L_TRUE { break }
            if r != Z3_L_FALSE {
                let reason = Z3_solver_get_reason_unknown(ctx, solver).map { String(cString: $0) } ?? "unknown"
                return ProverOutcome(verdict: .unknown, explanation: "Z3 returned unknown: \(reason)")
            }
            guard let core = Z3_solver_get_unsat_core(ctx, solver), Z3_get_error_code(ctx) == Z3_OK else {
                return unknownOutcome("reading the unsat core")
            }
            Z3_ast_vector_inc_ref(ctx, core)
            var inCore: [Int] = []
            for k in 0..<Z3_ast_vector_size(ctx, core) {
                let a = Z3_ast_vector_get(ctx, core, k)
                if let idx = agent.itemIndex(of: a) { inCore.append(idx) }
            }
            Z3_ast_vector_dec_ref(ctx, core)
            if inCore.isEmpty { return ProverOutcome(verdict: .unknown, explanation: "Z3: empty unsat core") }
            if inCore.count == 1 {
                agent.itemStates[inCore[0]] = .violated
                continue
            }
            // A core may name items that hold; with every variable fixed each item is ground, so
            // confirm each one alone (only on the denial path).
            var confirmed = 0
            for idx in inCore {
                assumptions.removeAll(keepingCapacity: true)
                assumptions.append(agent.tracker(idx))
                let r1 = Z3_solver_check_assumptions(ctx, solver, UInt32(assumptions.count), &assumptions)
                if Z3_get_error_code(ctx) != Z3_OK { return unknownOutcome("checking") }
                if r1 == Z3_L_FALSE { agent.itemStates[idx] = .violated; confirmed += 1 }
                else if r1 == Z3_L_TRUE { agent.itemStates[idx] = .holds }
                else {
                    let reason = Z3_solver_get_reason_unknown(ctx, solver).map { String(cString: $0) } ?? "unknown"
                    return ProverOutcome(verdict: .unknown, explanation: "Z3 returned unknown: \(reason)")
                }
            }
            // Items that hold alone go back into the pool: only violated ones are removed for good.
            for idx in inCore where agent.itemStates[idx] == .holds { agent.itemStates[idx] = .active }
            if confirmed == 0 { return ProverOutcome(verdict: .unknown, explanation: "Z3: unsat core names no violated item") }
        }
        return nil
    }

    private func unknownOutcome(_ what: String) -> ProverOutcome {
        let code = Z3_get_error_code(ctx)
        let msg = code == Z3_OK ? "no result" : (Z3_get_error_msg(ctx, code).map { String(cString: $0) } ?? "error \(code.rawValue)")
        return ProverOutcome(verdict: .unknown, explanation: "Z3 error while \(what): \(msg)")
    }

    // MARK: Numbers

    /// The exact rational a Double's shortest round-trip decimal denotes ("0.1" → 1/10, "1e+15" →
    /// 1000000000000000), as a Z3 numeral string ("N" or "N/D"). Shortest round-trip decimals are
    /// strictly monotone in the Double, so comparisons agree with the Doubles while `0.1` in a policy
    /// and `0.1` in a request mean the same exact number.
    static func rational(_ d: Double) -> String {
        if d == 0 { return "0" }
        var s = Substring(d.description)
        var negative = false
        if s.first == "-" { negative = true; s = s.dropFirst() }
        var exponent = 0
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(s[s.index(after: e)...].filter { $0 != "+" }) ?? 0
            s = s[..<e]
        }
        var digits: String
        var scale = 0
        if let dot = s.firstIndex(of: ".") {
            let frac = s[s.index(after: dot)...]
            digits = String(s[..<dot]) + frac
            scale = frac.count
        } else {
            digits = String(s)
        }
        scale -= exponent
        // Trim trailing zeros of the mantissa into the scale, leading zeros away.
        while scale > 0, digits.count > 1, digits.last == "0" { digits.removeLast(); scale -= 1 }
        while digits.count > 1, digits.first == "0" { digits.removeFirst() }
        var out = negative ? "-" : ""
        if scale <= 0 {
            out += digits + String(repeating: "0", count: -scale)
        } else {
            out += digits + "/1" + String(repeating: "0", count: scale)
        }
        return out
    }

    /// Human-readable value: integers without ".0", others in shortest round-trip form.
    static func format(_ v: Double) -> String {
        if abs(v) < 1e15, Double(Int64(v)) == v { return String(Int64(v)) }
        return v.description
    }
}

// MARK: - Compiled state

struct Item {
    var text: String
    var body: Z3_ast
    var variables: [String]
    var varIndexes: [Int] = []
    var tracker: Z3_ast?
}

enum ItemState { case active, violated, holds }

final class CompiledAgent {
    var items: [Item] = []
    /// Variable name → index into `consts`, `varNames` and the per-request arrays.
    var slots: [String: Int] = [:]
    var consts: [Z3_ast] = []
    var varNames: [String] = []
    var ceilingBody: Z3_ast?
    var ceilingTracker: Z3_ast?
    var ceiling: Double = 0
    var line = 1
    var fusedIndex = 0
    // Per-request scratch, sized at compile time.
    var itemStates: [ItemState] = []
    var itemValues: [Double] = []
    var itemPresent: [Bool] = []
    private var numCache: [Z3_ast?] = []
    private var eqCache: [Z3_ast?] = []
    private var numBits: [UInt64] = []
    private var eqBits: [UInt64] = []
    /// Built on first use only: the ground path decides linear arithmetic without it, and a solver per
    /// agent is most of the memory a large policy would otherwise cost.
    private var solverHandle: Z3_solver?
    /// Σ ite(item_i, 0, 2^i): one model evaluation names every false item.
    var combined: Z3_ast?
    /// The declaration of each variable (owned by its constant in `consts`).
    var decls: [Z3_func_decl?] = []

    func tracker(_ i: Int) -> Z3_ast? { i < items.count ? items[i].tracker : ceilingTracker }

    func itemIndex(of a: Z3_ast?) -> Int? {
        guard let a else { return nil }
        if a == ceilingTracker { return items.count }
        return items.firstIndex { $0.tracker == a }
    }

    /// The agent's incremental solver: every item asserted once as `tracker → item`, so that an unsat
    /// core names items, under a deterministic resource limit instead of a wall-clock timeout.
    func solver(_ ctx: Z3_context, rlimit: UInt32) throws(ProverLoadError) -> Z3_solver {
        if let s = solverHandle { return s }
        func err(_ what: String) -> ProverLoadError? {
            let code = Z3_get_error_code(ctx)
            guard code != Z3_OK else { return nil }
            let msg = Z3_get_error_msg(ctx, code).map { String(cString: $0) } ?? "error \(code.rawValue)"
            return ProverLoadError(line: line, reason: "Z3 error while \(what): \(msg)")
        }
        guard let s = Z3_mk_simple_solver(ctx) else { throw err("creating a solver") ?? ProverLoadError(line: line, reason: "Z3 solver") }
        Z3_solver_inc_ref(ctx, s)
        let params = Z3_mk_params(ctx)
        Z3_params_inc_ref(ctx, params)
        Z3_params_set_uint(ctx, params, Z3_mk_string_symbol(ctx, "rlimit"), rlimit)
        Z3_solver_set_params(ctx, s, params)
        Z3_params_dec_ref(ctx, params)
        var trackers: [Z3_ast] = []
        func guarded(_ body: Z3_ast?) throws(ProverLoadError) -> Z3_ast {
            guard let body, let t = Z3_mk_fresh_const(ctx, "jg_track", Z3_mk_bool_sort(ctx)) else {
                throw err("making a tracker") ?? ProverLoadError(line: line, reason: "Z3 tracker")
            }
            Z3_inc_ref(ctx, t)
            trackers.append(t)
            guard let imp = Z3_mk_implies(ctx, t, body) else { throw err("guarding an item") ?? ProverLoadError(line: line, reason: "Z3 implies") }
            Z3_inc_ref(ctx, imp)
            Z3_solver_assert(ctx, s, imp)
            Z3_dec_ref(ctx, imp)
            if let e = err("asserting an item") { throw e }
            return t
        }
        do throws(ProverLoadError) {
            var ts: [Z3_ast] = []
            for it in items { ts.append(try guarded(it.body)) }
            let ct = try guarded(ceilingBody)
            for i in items.indices { items[i].tracker = ts[i] }
            ceilingTracker = ct
            // One warm-up check so the first request does not pay for solver initialisation.
            _ = Z3_solver_check(ctx, s)
            if let e = err("checking the agent") { throw e }
        } catch {
            for t in trackers { Z3_dec_ref(ctx, t) }
            for i in items.indices { items[i].tracker = nil }
            ceilingTracker = nil
            Z3_solver_dec_ref(ctx, s)
            throw error
        }
        solverHandle = s
        return s
    }

    /// The value of variable `i` as an exact Z3 numeral, reused while the value is unchanged.
    func numeral(_ ctx: Z3_context, _ i: Int, _ v: Double, _ sort: Z3_sort) -> Z3_ast? {
        if numCache.count != varNames.count {
            numCache = Array(repeating: nil, count: varNames.count)
            numBits = Array(repeating: 0, count: varNames.count)
        }
        let bits = (v == 0 ? 0.0 : v).bitPattern
        if let n = numCache[i], numBits[i] == bits { return n }
        guard let n = Z3_mk_numeral(ctx, ProverEngine.rational(v), sort), Z3_get_error_code(ctx) == Z3_OK else { return nil }
        Z3_inc_ref(ctx, n)
        if let old = numCache[i] { Z3_dec_ref(ctx, old) }
        numCache[i] = n
        numBits[i] = bits
        return n
    }

    /// `var == value`, reused while the value is unchanged.
    func equality(_ ctx: Z3_context, _ i: Int, _ v: Double, _ sort: Z3_sort) -> Z3_ast? {
        if eqCache.count != varNames.count {
            eqCache = Array(repeating: nil, count: varNames.count)
            eqBits = Array(repeating: 0, count: varNames.count)
        }
        let bits = (v == 0 ? 0.0 : v).bitPattern
        if let e = eqCache[i], eqBits[i] == bits { return e }
        guard let n = numeral(ctx, i, v, sort), let eq = Z3_mk_eq(ctx, consts[i], n), Z3_get_error_code(ctx) == Z3_OK else { return nil }
        Z3_inc_ref(ctx, eq)
        if let old = eqCache[i] { Z3_dec_ref(ctx, old) }
        eqCache[i] = eq
        eqBits[i] = bits
        return eq
    }

    private var released = false

    func release(_ ctx: Z3_context) {
        guard !released else { return }
        released = true
        for e in eqCache { if let e { Z3_dec_ref(ctx, e) } }
        eqCache = []
        for n in numCache { if let n { Z3_dec_ref(ctx, n) } }
        numCache = []
        for it in items {
            Z3_dec_ref(ctx, it.body)
            if let t = it.tracker { Z3_dec_ref(ctx, t) }
        }
        items = []
        if let b = ceilingBody { Z3_dec_ref(ctx, b) }
        ceilingBody = nil
        if let t = ceilingTracker { Z3_dec_ref(ctx, t) }
        ceilingTracker = nil
        for c in consts { Z3_dec_ref(ctx, c) }
        consts = []
        slots = [:]
        if let s = solverHandle { Z3_solver_dec_ref(ctx, s) }
        solverHandle = nil
        if let c = combined { Z3_dec_ref(ctx, c) }
        combined = nil
    }
}
