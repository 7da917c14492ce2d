import JGJSON

/// The form in which the supervisor hands a policy to the components: canonical, self-describing JSON
/// of a policy it has already loaded from YAML, compiled and analysed. The components link no YAML
/// parser (Yams needs Foundation, ~10 MiB resident in every process); they read this form with the
/// strict JSON parser and check it again, so a malformed or incomplete document is refused whole,
/// never half-applied.
///
/// Layout: one object, keys written in this order; every key is required and no other key is allowed,
/// at any level. Names follow the YAML policy's keys.
///
///     {"format": "jinnguard-policy/1",
///      "source": {"name": <file name>, "sha256": <64 lowercase hex: digest of the YAML text>},
///      "global_safety_ceiling": <number 0…100>,
///      "deny_anonymous_agents": <bool>,
///      "canary_resources": [<string>…],
///      "governed_path_prefixes": [<string>…],
///      "max_concurrent_tool_runs": <int 1…1024>,
///      "runtime_policy": {"deny_root_peers": <bool>, "allowed_peer_uids": [<uid>…],
///                         "require_brokered_execution": <bool>, "require_sandbox_namespace": <bool>},
///      "agent_nodes": [
///        {"id": <string>, "line": <int ≥ 1>, "privilege_tier": <int 0…1000>,
///         "allowed_peer_uids": [<uid>…], "allowed_intents": [<string>…], "allowed_executables": [<string>…],
///         "allowed_network_destinations": [<host:port>…], "denied_destinations": [<address or CIDR>…],
///         "denied_directories": [<absolute path>…],
///         "tool_limits": {"timeout_seconds": <number>, "cpu_seconds": <int>, "memory_mb": <int>,
///                         "max_processes": <int>, "output_bytes": <int>, "file_size_mb": <int>,
///                         "max_concurrent_runs": <int 1…1024>, "workspace_mb": <int 8…1048576>},
///         "sandbox_mode": "required" | "best_effort",
///         "mode": "enforce" | "shadow",
///         "require_approval": null | {"intents": [<string>…], "risk_at_least": <number or null>, "hold_seconds": <number>},
///         "writable_paths": [<absolute dir>…], "require_sandbox_namespace": <bool>,
///         "max_sequence_quota": <int ≥ 0>, "max_risk_drift": <number or null>,
///         "invariants": [{"text": <string>, "line": <int ≥ 1>, "column": <int ≥ 0>}…]}…]}
///
/// Invariants travel as their source text and are parsed again on arrival (one grammar, so the same
/// expression); numbers are written in their shortest round-trip form, so every Double comes back
/// bit for bit. The digest is carried, not recomputed: it names the YAML text audit records refer to.
public enum CanonicalPolicy {
    public static let format = "jinnguard-policy/1"
    /// Largest canonical text accepted. The YAML file is at most 1 MiB, but aliases can make the loaded
    /// policy larger than its text; this keeps the configure message (policy and settings) well inside a
    /// control frame (`linkMaxBody`, 12 MiB), so a policy too big to send is refused by the supervisor
    /// up front instead of breaking the components' control links.
    public static let maxBytes = 8 << 20

    public static func encode(_ p: Policy) -> String {
        let runtime: JSONValue = .object([
            ("deny_root_peers", .bool(p.runtime.denyRootPeers)),
            ("allowed_peer_uids", uids(p.runtime.allowedPeerUIDs)),
            ("require_brokered_execution", .bool(p.runtime.requireBrokeredExecution)),
            ("require_sandbox_namespace", .bool(p.runtime.requireSandboxNamespace)),
        ])
        return JSONWriter.write(.object([
            ("format", .string(format)),
            ("source", .object([("name", .string(p.sourceName)), ("sha256", .string(p.digest))])),
            ("global_safety_ceiling", .number(p.globalSafetyCeiling)),
            ("deny_anonymous_agents", .bool(p.denyAnonymousAgents)),
            ("canary_resources", strings(p.canaryResources)),
            ("governed_path_prefixes", strings(p.governedPathPrefixes)),
            ("max_concurrent_tool_runs", .integer(.signed(Int64(p.maxConcurrentToolRuns)))),
            ("runtime_policy", runtime),
            ("agent_nodes", .array(p.agents.map(agent))),
        ]))
    }

    static func agent(_ a: AgentPolicy) -> JSONValue {
        let t = a.toolLimits
        let limits: JSONValue = .object([
            ("timeout_seconds", .number(t.timeoutSeconds)),
            ("cpu_seconds", .integer(.unsigned(t.cpuSeconds))),
            ("memory_mb", .integer(.unsigned(t.memoryMB))),
            ("max_processes", .integer(.unsigned(t.maxProcesses))),
            ("output_bytes", .integer(.signed(Int64(t.outputBytes)))),
            ("file_size_mb", .integer(.unsigned(t.fileSizeMB))),
            ("workspace_mb", .integer(.unsigned(t.workspaceMB))),
            ("max_concurrent_runs", .integer(.signed(Int64(t.maxConcurrentRuns)))),
        ])
        return .object([
            ("id", .string(a.id)),
            ("line", .integer(.signed(Int64(a.line)))),
            ("privilege_tier", .integer(.signed(Int64(a.privilegeTier)))),
            ("allowed_peer_uids", uids(a.allowedPeerUIDs)),
            ("allowed_intents", strings(a.allowedIntents)),
            ("allowed_executables", strings(a.allowedExecutables)),
            ("allowed_network_destinations", strings(a.allowedNetworkDestinations)),
            ("denied_destinations", strings(a.deniedDestinations)),
            ("denied_directories", strings(a.deniedDirectories)),
            ("tool_limits", limits),
            ("sandbox_mode", .string(a.sandboxMode.rawValue)),
            ("mode", .string(a.mode.rawValue)),
            ("require_approval", a.requireApproval.map { r in
                .object([("intents", strings(r.intents)), ("risk_at_least", r.riskAtLeast.map { .number($0) } ?? .null),
                         ("hold_seconds", .number(r.holdSeconds))])
            } ?? .null),
            ("writable_paths", strings(a.writablePaths)),
            ("require_sandbox_namespace", .bool(a.requireSandboxNamespace)),
            ("max_sequence_quota", .integer(.unsigned(a.maxSequenceQuota))),
            ("max_risk_drift", a.maxRiskDrift.map { .number($0) } ?? .null),
            ("invariants", .array(a.invariants.map { inv in
                .object([("text", .string(inv.text)), ("line", .integer(.signed(Int64(inv.line)))),
                         ("column", .integer(.signed(Int64(inv.column))))])
            })),
        ])
    }

    static func strings(_ s: [String]) -> JSONValue { .array(s.map { .string($0) }) }
    static func uids(_ u: [UInt32]) -> JSONValue { .array(u.map { .integer(.unsigned(UInt64($0))) }) }

    /// Rebuilds the policy `encode` wrote, checking everything the YAML loader checks; anything else
    /// (bad JSON, another format, a missing, unknown or mistyped key, a value out of range) is refused.
    public static func decode(_ text: String) throws(CanonicalPolicyError) -> Policy {
        guard text.utf8.count <= maxBytes else {
            throw CanonicalPolicyError(path: "", reason: "\(text.utf8.count) bytes, more than \(maxBytes)")
        }
        let root: JSONValue
        do { root = try JSONParser.parse(text) } catch { throw CanonicalPolicyError(path: "", reason: error.description) }
        let o = try Fields(root, "", keys: ["format", "source", "global_safety_ceiling", "deny_anonymous_agents",
                                            "canary_resources", "governed_path_prefixes", "max_concurrent_tool_runs",
                                            "runtime_policy", "agent_nodes"])
        // The format first: a document of another version is named as such, not as a pile of key errors.
        guard try o.string("format") == format else {
            throw o.fail("format", "expected \"\(format)\"")
        }
        let source = try o.object("source", keys: ["name", "sha256"])
        let name = try source.string("name")
        guard !name.isEmpty else { throw source.fail("name", "must not be empty") }
        let digest = try source.string("sha256")
        guard digest.utf8.count == 64, digest.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw source.fail("sha256", "must be 64 lowercase hex digits")
        }
        let ceiling = try o.double("global_safety_ceiling")
        guard ceiling >= 0, ceiling <= 100 else { throw o.fail("global_safety_ceiling", "must be within 0…100") }

        let r = try o.object("runtime_policy", keys: ["deny_root_peers", "allowed_peer_uids",
                                                      "require_brokered_execution", "require_sandbox_namespace"])
        var runtime = RuntimePolicy()
        runtime.denyRootPeers = try r.bool("deny_root_peers")
        runtime.allowedPeerUIDs = try r.uids("allowed_peer_uids")
        runtime.requireBrokeredExecution = try r.bool("require_brokered_execution")
        runtime.requireSandboxNamespace = try r.bool("require_sandbox_namespace")

        var agents: [AgentPolicy] = []
        var ids = Set<String>()
        for (i, item) in try o.array("agent_nodes").enumerated() {
            let a = try agent(item, path: o.path("agent_nodes") + "[\(i)]")
            guard ids.insert(a.id).inserted else {
                throw CanonicalPolicyError(path: o.path("agent_nodes") + "[\(i)].id", reason: "duplicate agent id '\(a.id)'")
            }
            agents.append(a)
        }
        var p = Policy(globalSafetyCeiling: ceiling, denyAnonymousAgents: try o.bool("deny_anonymous_agents"),
                       canaryResources: try o.strings("canary_resources"),
                       governedPathPrefixes: try o.strings("governed_path_prefixes"), runtime: runtime, agents: agents,
                       sourceName: name, sourceText: "", digest: digest)
        p.maxConcurrentToolRuns = try o.int("max_concurrent_tool_runs", 1...Policy.maxConcurrentToolRunsLimit)
        return p
    }

    static func agent(_ v: JSONValue, path: String) throws(CanonicalPolicyError) -> AgentPolicy {
        let o = try Fields(v, path, keys: ["id", "line", "privilege_tier", "allowed_peer_uids", "allowed_intents",
                                           "allowed_executables", "allowed_network_destinations", "denied_destinations",
                                           "denied_directories", "tool_limits", "max_sequence_quota", "max_risk_drift",
                                           "invariants", "sandbox_mode", "writable_paths", "require_sandbox_namespace",
                                           "require_approval", "mode"])
        let id = try o.string("id")
        guard !id.isEmpty, id == id.trimmingWhitespace() else { throw o.fail("id", "must be non-empty, without surrounding whitespace") }
        var drift: Double?
        if o.values["max_risk_drift"] != .null {
            let d = try o.double("max_risk_drift")
            guard d > 0, d <= 100 else { throw o.fail("max_risk_drift", "must be null or within (0, 100]") }
            drift = d
        }
        var a = AgentPolicy(id: id, privilegeTier: try o.int("privilege_tier", 0...1000),
                            allowedPeerUIDs: try o.uids("allowed_peer_uids"), allowedIntents: try o.strings("allowed_intents"),
                            allowedExecutables: try o.strings("allowed_executables"),
                            maxSequenceQuota: try o.uint64("max_sequence_quota"), maxRiskDrift: drift, invariants: [],
                            line: try o.int("line", 1...Int(Int32.max)))
        a.allowedNetworkDestinations = try o.strings("allowed_network_destinations")
        for d in a.allowedNetworkDestinations where d != d.lowercased() || !AgentPolicy.isNetworkDestination(d) {
            throw o.fail("allowed_network_destinations", "entries are lowercase host:port, got '\(d)'")
        }
        a.deniedDestinations = try o.strings("denied_destinations")
        for d in a.deniedDestinations where CIDR(d) == nil {
            throw o.fail("denied_destinations", "entries are IP addresses or CIDR blocks, got '\(d)'")
        }
        a.writablePaths = try o.strings("writable_paths")
        for d in a.writablePaths where !AgentPolicy.isWritablePath(d) {
            throw o.fail("writable_paths", "entries are absolute normalized directories other than /, got '\(d)'")
        }
        a.requireSandboxNamespace = try o.bool("require_sandbox_namespace")
        a.deniedDirectories = try o.strings("denied_directories")
        for d in a.deniedDirectories where !d.hasPrefix("/") {
            throw o.fail("denied_directories", "entries are absolute paths, got '\(d)'")
        }

        let t = try o.object("tool_limits", keys: ["timeout_seconds", "cpu_seconds", "memory_mb", "max_processes",
                                                   "output_bytes", "file_size_mb", "workspace_mb", "max_concurrent_runs"])
        let timeout = try t.double("timeout_seconds")
        guard timeout > 0, timeout <= ToolLimits.maxTimeoutSeconds else {
            throw t.fail("timeout_seconds", "must be within (0, \(Int(ToolLimits.maxTimeoutSeconds))]")
        }
        a.toolLimits.timeoutSeconds = timeout
        a.toolLimits.cpuSeconds = try t.uint64("cpu_seconds", atLeast: ToolLimits.minCPUSeconds, atMost: ToolLimits.maxCPUSeconds)
        a.toolLimits.memoryMB = try t.uint64("memory_mb", atLeast: ToolLimits.minMemoryMB, atMost: ToolLimits.maxMemoryMB)
        a.toolLimits.maxProcesses = try t.uint64("max_processes", atLeast: ToolLimits.minMaxProcesses, atMost: ToolLimits.maxMaxProcesses)
        a.toolLimits.outputBytes = try t.int("output_bytes", 0...ToolLimits.maxOutputBytes)
        a.toolLimits.fileSizeMB = try t.uint64("file_size_mb", atLeast: ToolLimits.minFileSizeMB, atMost: ToolLimits.maxFileSizeMB)
        a.toolLimits.workspaceMB = try t.uint64("workspace_mb", atLeast: ToolLimits.minWorkspaceMB)
        guard a.toolLimits.workspaceMB <= ToolLimits.maxWorkspaceMB else { throw t.fail("workspace_mb", "must be at most \(ToolLimits.maxWorkspaceMB)") }
        let mode = try o.string("sandbox_mode")
        guard let m = SandboxMode(rawValue: mode) else { throw o.fail("sandbox_mode", "must be required or best_effort, got '\(mode)'") }
        a.sandboxMode = m
        a.toolLimits.maxConcurrentRuns = try t.int("max_concurrent_runs", 1...ToolLimits.maxConcurrentRunsLimit)
        let modeText = try o.string("mode")
        guard let am = AgentMode(rawValue: modeText) else { throw o.fail("mode", "must be enforce or shadow, got '\(modeText)'") }
        a.mode = am
        if o.values["require_approval"] != .null {
            let r = try o.object("require_approval", keys: ["intents", "risk_at_least", "hold_seconds"])
            var rule = ApprovalRule()
            rule.intents = try r.strings("intents")
            if r.values["risk_at_least"] != .null {
                let d = try r.double("risk_at_least")
                guard d >= 0, d <= 100 else { throw r.fail("risk_at_least", "must be null or within [0, 100]") }
                rule.riskAtLeast = d
            }
            rule.holdSeconds = try r.double("hold_seconds")
            guard rule.holdSeconds >= 1, rule.holdSeconds <= ApprovalRule.maxHoldSeconds else {
                throw r.fail("hold_seconds", "must be within [1, 86400]")
            }
            a.requireApproval = rule
        }

        for (i, item) in try o.array("invariants").enumerated() {
            let f = try Fields(item, o.path("invariants") + "[\(i)]", keys: ["text", "line", "column"])
            let text = try f.string("text")
            let expression: InvariantExpr
            do { expression = try InvariantParser.parse(text) } catch {
                throw f.fail("text", "invariant \"\(text)\": \(error.reason)")
            }
            a.invariants.append(InvariantSource(text: text, line: try f.int("line", 1...Int(Int32.max)),
                                                column: try f.int("column", 0...Int(Int32.max)), expression: expression))
        }
        return a
    }
}

/// Why a canonical policy was refused: where (a JSON path such as `agent_nodes[2].tool_limits.memory_mb`)
/// and why, on one line.
public struct CanonicalPolicyError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
    /// One line whatever the input held: control characters (a newline in a hostile key, say) are escaped.
    public var description: String {
        let text = path.isEmpty ? "canonical policy: \(reason)" : "canonical policy: \(path): \(reason)"
        var out = ""
        for u in text.unicodeScalars {
            if u.value < 0x20 || u.value == 0x7F { out += "\\u{\(String(u.value, radix: 16))}" } else { out.unicodeScalars.append(u) }
        }
        return out
    }
}

/// One object of the canonical form, its key set already checked to be exactly the one expected.
private struct Fields {
    let prefix: String
    let values: [String: JSONValue]

    init(_ v: JSONValue, _ path: String, keys: [String]) throws(CanonicalPolicyError) {
        prefix = path
        guard case let .object(pairs) = v else { throw CanonicalPolicyError(path: path, reason: "must be an object") }
        var values: [String: JSONValue] = [:]
        for (k, item) in pairs {
            guard keys.contains(k) else {
                throw CanonicalPolicyError(path: path, reason: "unknown key '\(k)' (allowed: \(keys.joined(separator: ", ")))")
            }
            // The parser refuses duplicate keys already; a value built some other way must not either.
            guard values.updateValue(item, forKey: k) == nil else {
                throw CanonicalPolicyError(path: path, reason: "duplicate key '\(k)'")
            }
        }
        if let missing = keys.first(where: { values[$0] == nil }) {
            throw CanonicalPolicyError(path: path, reason: "missing key '\(missing)'")
        }
        self.values = values
    }

    func path(_ key: String) -> String { prefix.isEmpty ? key : prefix + "." + key }

    func fail(_ key: String, _ reason: String) -> CanonicalPolicyError { CanonicalPolicyError(path: path(key), reason: reason) }

    /// Every key is present (checked in `init`); `.null` only stands in for the impossible.
    func value(_ key: String) -> JSONValue { values[key] ?? .null }

    func object(_ key: String, keys: [String]) throws(CanonicalPolicyError) -> Fields { try Fields(value(key), path(key), keys: keys) }

    func string(_ key: String) throws(CanonicalPolicyError) -> String {
        guard case let .string(s) = value(key) else { throw fail(key, "must be a string") }
        return s
    }

    func bool(_ key: String) throws(CanonicalPolicyError) -> Bool {
        guard case let .bool(b) = value(key) else { throw fail(key, "must be true or false") }
        return b
    }

    func double(_ key: String) throws(CanonicalPolicyError) -> Double {
        // The parser refuses non-finite numbers; integral ones are written without a fraction.
        guard let d = value(key).doubleValue, d.isFinite else { throw fail(key, "must be a number") }
        return d
    }

    func uint64(_ key: String, atLeast minimum: UInt64 = 0, atMost maximum: UInt64 = .max) throws(CanonicalPolicyError) -> UInt64 {
        guard case let .integer(i) = value(key), let v = i.uint64, v >= minimum, v <= maximum else {
            throw fail(key, maximum == .max ? "must be an integer ≥ \(minimum)" : "must be an integer within \(minimum)…\(maximum)")
        }
        return v
    }

    func int(_ key: String, _ range: ClosedRange<Int>) throws(CanonicalPolicyError) -> Int {
        guard case let .integer(.signed(v)) = value(key), let i = Int(exactly: v), range.contains(i) else {
            throw fail(key, "must be an integer within \(range.lowerBound)…\(range.upperBound)")
        }
        return i
    }

    func array(_ key: String) throws(CanonicalPolicyError) -> [JSONValue] {
        guard case let .array(items) = value(key) else { throw fail(key, "must be a list") }
        return items
    }

    /// Non-empty strings, as the YAML loader admits them.
    func strings(_ key: String) throws(CanonicalPolicyError) -> [String] {
        var out: [String] = []
        for item in try array(key) {
            guard case let .string(s) = item, !s.isEmpty else { throw fail(key, "entries must be non-empty strings") }
            out.append(s)
        }
        return out
    }

    func uids(_ key: String) throws(CanonicalPolicyError) -> [UInt32] {
        var out: [UInt32] = []
        for item in try array(key) {
            guard case let .integer(i) = item, let v = i.uint64, let u = UInt32(exactly: v) else {
                throw fail(key, "entries must be uids (0…\(UInt32.max))")
            }
            out.append(u)
        }
        return out
    }
}
