import JGIPC
import JGPolicy
import JGJSON

/// The parsed payload (PROTOCOL.md §3). Field types are checked here (step 4).
public struct Proposal: Sendable {
    public var sequenceCounter: UInt64 = 0
    /// Trimmed; nil when missing, empty or not a string (anonymous).
    public var agentID: String?
    public var intentName: String?
    public var actionRiskScore: Double?
    public var prompt: String?
    public var plan: String?
    public var sourceCode: String?
    public var requestedCapabilities: [String] = []
    public var contextVars: [(String, Double)] = []
    public var proposedAction: ProposedAction?
    public var execute = false
    public var hasDelegationToken = false

    public init() {}

    public struct Malformed: Error, Equatable { public var reason: String }

    /// Only reads what it must: the claimed agent id, needed to pick the key before the signature check.
    public static func claimedAgentID(_ v: JSONValue) -> String? {
        guard case let .string(s)? = v["agent_id"] else { return nil }
        let t = trim(s)
        return t.isEmpty ? nil : t
    }

    public static func parse(_ v: JSONValue) throws(Malformed) -> Proposal {
        guard case let .object(pairs) = v else { throw Malformed(reason: "payload is not an object") }
        var p = Proposal()
        var haveSequence = false
        for (k, val) in pairs {
            switch k {
            case "sequence_counter":
                // Above 2^63−1 is malformed: one such counter, once accepted, would leave no higher one and lock
                // the agent out for good (the SDK's time-based counters, about 1.8·10^18, stay below it).
                guard case let .integer(i) = val, let u = i.uint64, u <= UInt64(Int64.max) else {
                    throw Malformed(reason: "sequence_counter must be an integer in 0…2^63−1")
                }
                p.sequenceCounter = u
                haveSequence = true
            case "agent_id":
                if case let .string(s) = val { let t = trim(s); p.agentID = t.isEmpty ? nil : t }
            case "intent_name": p.intentName = try optString(val, k)
            case "action_risk_score":
                if let d = try optNumber(val, k) {
                    guard d >= 0, d <= 100 else { throw Malformed(reason: "action_risk_score must be within 0…100") }
                    p.actionRiskScore = d
                }
            case "session_privilege_bit": _ = try optNumber(val, k)
            case "prompt": p.prompt = try optString(val, k)
            case "plan": p.plan = try optString(val, k)
            case "source_code": p.sourceCode = try optString(val, k)
            case "requested_capabilities":
                switch val {
                case .null: break
                case let .array(items):
                    for item in items {
                        guard case let .string(s) = item else { throw Malformed(reason: "requested_capabilities must hold strings") }
                        p.requestedCapabilities.append(s)
                    }
                default: throw Malformed(reason: "requested_capabilities must be an array")
                }
            case "context_vars":
                switch val {
                case .null: break
                case let .object(vars):
                    for (name, nv) in vars {
                        guard let d = nv.doubleValue, d.isFinite else { throw Malformed(reason: "context_vars[\(name)] must be a number") }
                        p.contextVars.append((name, d))
                    }
                default: throw Malformed(reason: "context_vars must be an object")
                }
            case "proposed_action":
                switch val {
                case .null: break
                case .object: p.proposedAction = try action(val)
                default: throw Malformed(reason: "proposed_action must be an object")
                }
            case "execute":
                switch val {
                case .null: break
                case let .bool(b): p.execute = b
                default: throw Malformed(reason: "execute must be a boolean")
                }
            case "delegation_token":
                if val != .null { p.hasDelegationToken = true }
            default: break
            }
        }
        guard haveSequence else { throw Malformed(reason: "sequence_counter is required") }
        return p
    }

    static func action(_ v: JSONValue) throws(Malformed) -> ProposedAction {
        guard case let .string(kind)? = v["kind"] else { throw Malformed(reason: "proposed_action.kind must be a string") }
        var a = ProposedAction(kind: kind)
        a.command = try optString(v["command"] ?? .null, "command")
        a.path = try optString(v["path"] ?? .null, "path")
        a.contents = try optString(v["contents"] ?? .null, "contents")
        a.url = try optString(v["url"] ?? .null, "url")
        a.method = try optString(v["method"] ?? .null, "method")
        return a
    }

    static func optString(_ v: JSONValue, _ k: String) throws(Malformed) -> String? {
        switch v {
        case .null: return nil
        case let .string(s): return s
        default: throw Malformed(reason: "\(k) must be a string or null")
        }
    }

    static func optNumber(_ v: JSONValue, _ k: String) throws(Malformed) -> Double? {
        switch v {
        case .null: return nil
        case .integer, .number:
            guard let d = v.doubleValue, d.isFinite else { throw Malformed(reason: "\(k) out of range") }
            return d
        default: throw Malformed(reason: "\(k) must be a number or null")
        }
    }

    static func trim(_ s: String) -> String {
        // Nothing to trim when both ends are printable ASCII (the usual agent id): no Unicode look-ups.
        if let f = s.utf8.first, let l = s.utf8.last, TextSearch.isPrintableASCII(f), TextSearch.isPrintableASCII(l) { return s }
        var sub = Substring(s)
        while let f = sub.first, f.isWhitespace { sub.removeFirst() }
        while let l = sub.last, l.isWhitespace { sub.removeLast() }
        return String(sub)
    }
}
