import JGCrypto
import JGJSON
import JGPolicy
import Yams

/// Loads and checks a policy from YAML text. Only the supervisor, the CLI and the tests link this
/// (Yams needs Foundation); the components receive the loaded policy in its canonical JSON form.
/// Unknown keys, duplicate agents, bad types, non-finite or
/// out-of-range ceilings and unparsable invariants are errors with file, line and reason: a bad policy
/// never replaces a good one.
public enum PolicyLoader {
    public static func load(text: String, sourceName: String) throws(PolicyError) -> Policy {
        let root: Node
        do {
            guard let n = try Yams.compose(yaml: text) else {
                throw PolicyError(file: sourceName, line: 1, reason: "empty policy")
            }
            root = n
        } catch let e as PolicyError {
            throw e
        } catch let e as YamlError {
            throw PolicyError(file: sourceName, line: yamlLine(e), reason: "YAML: \(e)")
        } catch {
            throw PolicyError(file: sourceName, line: 1, reason: "YAML: \(error)")
        }
        let r = Reader(file: sourceName)
        return try r.policy(root, text: text)
    }

    static func yamlLine(_ e: YamlError) -> Int {
        switch e {
        case let .scanner(_, _, mark, _), let .parser(_, _, mark, _), let .composer(_, _, mark, _):
            return mark.line
        default: return 1
        }
    }
}

private struct Reader {
    let file: String

    func fail(_ n: Node, _ reason: String) -> PolicyError {
        PolicyError(file: file, line: n.mark?.line ?? 1, column: n.mark?.column ?? 0, reason: reason)
    }

    func mapping(_ n: Node, _ what: String, allowed: Set<String>) throws(PolicyError) -> [(String, Node, Node)] {
        guard case let .mapping(m) = n else { throw fail(n, "\(what) must be a mapping") }
        var seen = Set<String>()
        var out: [(String, Node, Node)] = []
        for (k, v) in m {
            guard case let .scalar(s) = k else { throw fail(k, "\(what): keys must be strings") }
            guard allowed.contains(s.string) else {
                throw fail(k, "\(what): unknown key '\(s.string)' (allowed: \(allowed.sorted().joined(separator: ", ")))")
            }
            guard seen.insert(s.string).inserted else { throw fail(k, "\(what): duplicate key '\(s.string)'") }
            out.append((s.string, k, v))
        }
        return out
    }

    func scalar(_ n: Node, _ what: String) throws(PolicyError) -> String {
        guard case let .scalar(s) = n else { throw fail(n, "\(what) must be a scalar") }
        return s.string
    }

    func string(_ n: Node, _ what: String) throws(PolicyError) -> String {
        guard case let .scalar(s) = n else { throw fail(n, "\(what) must be a string") }
        return s.string
    }

    func double(_ n: Node, _ what: String) throws(PolicyError) -> Double {
        let s = try scalar(n, what)
        guard let d = Double(s.trimmingWhitespace()) else { throw fail(n, "\(what) must be a number, got '\(s)'") }
        guard d.isFinite else { throw fail(n, "\(what) must be finite") }
        return d
    }

    func bool(_ n: Node, _ what: String) throws(PolicyError) -> Bool {
        switch try scalar(n, what).lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw fail(n, "\(what) must be true or false")
        }
    }

    func uint(_ n: Node, _ what: String) throws(PolicyError) -> UInt64 {
        let s = try scalar(n, what)
        guard let v = UInt64(s) else { throw fail(n, "\(what) must be a non-negative integer, got '\(s)'") }
        return v
    }

    func uint(_ n: Node, _ what: String, atMost maximum: UInt64) throws(PolicyError) -> UInt64 {
        let v = try uint(n, what)
        guard v <= maximum else { throw fail(n, "\(what) must be at most \(maximum), got \(v)") }
        return v
    }

    func list(_ n: Node, _ what: String) throws(PolicyError) -> [Node] {
        switch n {
        case let .sequence(s): return Array(s)
        case let .scalar(s) where s.string.isEmpty || s.string == "~" || s.string == "null": return []
        default: throw fail(n, "\(what) must be a list")
        }
    }

    func strings(_ n: Node, _ what: String) throws(PolicyError) -> [String] {
        var out: [String] = []
        for item in try list(n, what) {
            let s = try string(item, "\(what) entry")
            guard !s.isEmpty else { throw fail(item, "\(what): empty entry") }
            out.append(s)
        }
        return out
    }

    func uids(_ n: Node, _ what: String) throws(PolicyError) -> [UInt32] {
        var out: [UInt32] = []
        for item in try list(n, what) {
            let v = try uint(item, "\(what) entry")
            guard v <= UInt64(UInt32.max) else { throw fail(item, "\(what): uid out of range") }
            out.append(UInt32(v))
        }
        return out
    }

    func policy(_ root: Node, text: String) throws(PolicyError) -> Policy {
        let keys: Set<String> = ["global_safety_ceiling", "deny_anonymous_agents", "deny_anonymous", "canary_resources",
                                 "enforcement_scope", "runtime_policy", "agent_nodes", "max_concurrent_tool_runs"]
        var ceiling: Double?
        var denyAnon = true
        var anonSet = false
        var canaries: [String] = []
        var prefixes: [String] = []
        var runtime = RuntimePolicy()
        var agents: [AgentPolicy] = []
        var agentsSeen = false
        var maxRuns = Policy.defaultMaxConcurrentToolRuns
        for (k, kn, v) in try mapping(root, "policy", allowed: keys) {
            switch k {
            case "global_safety_ceiling":
                let d = try double(v, k)
                guard d >= 0, d <= 100 else { throw fail(v, "global_safety_ceiling must be within 0…100, got \(d)") }
                ceiling = d
            case "deny_anonymous_agents", "deny_anonymous":
                if anonSet { throw fail(kn, "deny_anonymous_agents given twice (also spelled deny_anonymous)") }
                denyAnon = try bool(v, k)
                anonSet = true
            case "canary_resources": canaries = try strings(v, k)
            case "max_concurrent_tool_runs":
                let n = try uint(v, k)
                guard n >= 1, n <= UInt64(Policy.maxConcurrentToolRunsLimit) else {
                    throw fail(v, "max_concurrent_tool_runs must be within 1…\(Policy.maxConcurrentToolRunsLimit)")
                }
                maxRuns = Int(n)
            case "enforcement_scope":
                for (sk, _, sv) in try mapping(v, k, allowed: ["governed_path_prefixes"]) where sk == "governed_path_prefixes" {
                    prefixes = try strings(sv, sk)
                }
            case "runtime_policy":
                for (sk, _, sv) in try mapping(v, k, allowed: ["deny_root_peers", "allowed_peer_uids",
                                                                "require_brokered_execution", "require_sandbox_namespace"]) {
                    switch sk {
                    case "deny_root_peers": runtime.denyRootPeers = try bool(sv, sk)
                    case "allowed_peer_uids": runtime.allowedPeerUIDs = try uids(sv, sk)
                    case "require_brokered_execution": runtime.requireBrokeredExecution = try bool(sv, sk)
                    default: runtime.requireSandboxNamespace = try bool(sv, sk)
                    }
                }
            default:
                agentsSeen = true
                var ids = Set<String>()
                for item in try list(v, k) {
                    let a = try agent(item)
                    guard ids.insert(a.id).inserted else { throw fail(item, "duplicate agent id '\(a.id)'") }
                    agents.append(a)
                }
            }
        }
        guard let ceiling else { throw PolicyError(file: file, line: 1, reason: "global_safety_ceiling is required") }
        guard agentsSeen else { throw PolicyError(file: file, line: 1, reason: "agent_nodes is required") }
        var p = Policy(globalSafetyCeiling: ceiling, denyAnonymousAgents: denyAnon, canaryResources: canaries,
                       governedPathPrefixes: prefixes, runtime: runtime, agents: agents,
                       sourceName: file, sourceText: text, digest: Digest.sha256Hex(text))
        p.maxConcurrentToolRuns = maxRuns
        return p
    }

    func agent(_ n: Node) throws(PolicyError) -> AgentPolicy {
        let keys: Set<String> = ["id", "privilege_tier", "allowed_peer_uids", "allowed_intents", "allowed_executables",
                                 "max_sequence_quota", "max_risk_drift", "invariants", "allowed_network_destinations",
                                 "denied_destinations", "denied_directories", "tool_limits", "sandbox_mode",
                                 "writable_paths", "require_sandbox_namespace", "require_approval", "mode"]
        var id: String?
        var tier: Int?
        var a = AgentPolicy(id: "", privilegeTier: 0, allowedPeerUIDs: [], allowedIntents: [], allowedExecutables: [],
                            maxSequenceQuota: 0, maxRiskDrift: nil, invariants: [], line: n.mark?.line ?? 1)
        for (k, _, v) in try mapping(n, "agent", allowed: keys) {
            switch k {
            case "id":
                let s = try string(v, "id").trimmingWhitespace()
                guard !s.isEmpty else { throw fail(v, "agent id must not be empty") }
                id = s
            case "privilege_tier":
                let t = try uint(v, k)
                guard t <= 1000 else { throw fail(v, "privilege_tier out of range") }
                tier = Int(t)
            case "allowed_peer_uids": a.allowedPeerUIDs = try uids(v, k)
            case "allowed_intents": a.allowedIntents = try strings(v, k)
            case "allowed_executables": a.allowedExecutables = try strings(v, k)
            case "tool_limits":
                for (tk, _, tv) in try mapping(v, k, allowed: ["timeout_seconds", "cpu_seconds", "memory_mb", "max_processes",
                                                               "output_bytes", "file_size_mb", "workspace_mb", "max_concurrent_runs"]) {
                    switch tk {
                    case "timeout_seconds":
                        let d = try double(tv, tk)
                        guard d > 0, d <= ToolLimits.maxTimeoutSeconds else { throw fail(tv, "timeout_seconds must be within (0, 600]") }
                        a.toolLimits.timeoutSeconds = d
                    case "cpu_seconds": a.toolLimits.cpuSeconds = max(ToolLimits.minCPUSeconds, try uint(tv, tk, atMost: ToolLimits.maxCPUSeconds))
                    case "memory_mb": a.toolLimits.memoryMB = max(ToolLimits.minMemoryMB, try uint(tv, tk, atMost: ToolLimits.maxMemoryMB))
                    case "max_processes": a.toolLimits.maxProcesses = max(ToolLimits.minMaxProcesses, try uint(tv, tk, atMost: ToolLimits.maxMaxProcesses))
                    case "output_bytes": a.toolLimits.outputBytes = Int(min(UInt64(ToolLimits.maxOutputBytes), try uint(tv, tk)))
                    case "workspace_mb":
                        let mb = try uint(tv, tk)
                        guard mb >= ToolLimits.minWorkspaceMB, mb <= ToolLimits.maxWorkspaceMB else {
                            throw fail(tv, "workspace_mb must be within [\(ToolLimits.minWorkspaceMB), \(ToolLimits.maxWorkspaceMB)]")
                        }
                        a.toolLimits.workspaceMB = mb
                    case "max_concurrent_runs":
                        let n = try uint(tv, tk)
                        guard n >= 1, n <= UInt64(ToolLimits.maxConcurrentRunsLimit) else {
                            throw fail(tv, "max_concurrent_runs must be within 1…\(ToolLimits.maxConcurrentRunsLimit)")
                        }
                        a.toolLimits.maxConcurrentRuns = Int(n)
                    default: a.toolLimits.fileSizeMB = max(ToolLimits.minFileSizeMB, try uint(tv, tk, atMost: ToolLimits.maxFileSizeMB))
                    }
                }
            case "mode":
                let s = try string(v, k)
                guard let m = AgentMode(rawValue: s) else { throw fail(v, "mode must be enforce or shadow, got '\(s)'") }
                a.mode = m
            case "require_approval":
                var r = ApprovalRule()
                for (rk, _, rv) in try mapping(v, k, allowed: ["intents", "risk_at_least", "hold_seconds"]) {
                    switch rk {
                    case "intents": r.intents = try strings(rv, rk)
                    case "risk_at_least":
                        let d = try double(rv, rk)
                        guard d >= 0, d <= 100 else { throw fail(rv, "risk_at_least must be within [0, 100]") }
                        r.riskAtLeast = d
                    default:
                        let d = try double(rv, rk)
                        guard d >= 1, d <= ApprovalRule.maxHoldSeconds else { throw fail(rv, "hold_seconds must be within [1, 86400]") }
                        r.holdSeconds = d
                    }
                }
                a.requireApproval = r
            case "writable_paths":
                for item in try list(v, k) {
                    let d = try string(item, "writable_paths entry")
                    guard AgentPolicy.isWritablePath(d) else { throw fail(item, "writable_paths entries are absolute normalized directories other than /, got '\(d)'") }
                    a.writablePaths.append(d)
                }
            case "require_sandbox_namespace": a.requireSandboxNamespace = try bool(v, k)
            case "sandbox_mode":
                let s = try string(v, k)
                guard let m = SandboxMode(rawValue: s) else { throw fail(v, "sandbox_mode must be required or best_effort, got '\(s)'") }
                a.sandboxMode = m
            case "denied_destinations":
                for item in try list(v, k) {
                    let d = try string(item, "denied_destinations entry")
                    guard CIDR(d) != nil else { throw fail(item, "denied_destinations entries are IP addresses or CIDR blocks, got '\(d)'") }
                    a.deniedDestinations.append(d)
                }
            case "denied_directories":
                for item in try list(v, k) {
                    let d = try string(item, "denied_directories entry")
                    guard d.hasPrefix("/") else { throw fail(item, "denied_directories entries are absolute paths, got '\(d)'") }
                    a.deniedDirectories.append(d)
                }
            case "allowed_network_destinations":
                for item in try list(v, k) {
                    let d = try string(item, "allowed_network_destinations entry").lowercased()
                    guard AgentPolicy.isNetworkDestination(d) else {
                        throw fail(item, "allowed_network_destinations entries are host:port, got '\(d)'")
                    }
                    a.allowedNetworkDestinations.append(d)
                }
            case "max_sequence_quota": a.maxSequenceQuota = try uint(v, k)
            case "max_risk_drift":
                let d = try double(v, k)
                guard d > 0, d <= 100 else { throw fail(v, "max_risk_drift must be within (0, 100]") }
                a.maxRiskDrift = d
            default:
                for item in try list(v, k) {
                    let text = try string(item, "invariant")
                    do {
                        let e = try InvariantParser.parse(text)
                        a.invariants.append(InvariantSource(text: text, line: item.mark?.line ?? 1,
                                                            column: item.mark?.column ?? 0, expression: e))
                    } catch {
                        throw PolicyError(file: file, line: item.mark?.line ?? 1,
                                          column: (item.mark?.column ?? 0) + error.column,
                                          reason: "invariant \"\(text)\": \(error.reason)")
                    }
                }
            }
        }
        guard let id else { throw fail(n, "agent without id") }
        guard let tier else { throw fail(n, "agent '\(id)': privilege_tier is required") }
        a.id = id
        a.privilegeTier = tier
        return a
    }
}
