import JGCrypto
import JGIPC
import JGPolicy
import JGPolicyYAML
import JGSandbox
import Testing

/// Per-agent tool uids (ToolAccounts) and the policy fields of the sandbox (workspace_mb, sandbox_mode).
@Suite struct SandboxSettingsTests {
    @Test func toolUIDsAreAllocatedOncePersistedAndStable() throws {
        var a = ToolAccounts(range: 5000...5003)
        let u1 = try a.uid(for: "alice", taken: [5000])
        let u2 = try a.uid(for: "bob", taken: [5000])
        #expect(u1 == 5001 && u2 == 5002)
        #expect(try a.uid(for: "alice", taken: []) == u1)
        var b = try ToolAccounts(range: 5000...5003, persisted: a.persisted)
        #expect(b == a)
        #expect(try b.uid(for: "carol", taken: []) == 5000)
        #expect(throws: ToolAccounts.Error.self) { try b.uid(for: "dave", taken: [5003]) }
    }

    @Test func persistedEntriesOutsideTheRangeOrDuplicatedAreRefused() {
        #expect(throws: ToolAccounts.Error.self) { try ToolAccounts(range: 5000...5003, persisted: "4999 alice\n") }
        #expect(throws: ToolAccounts.Error.self) { try ToolAccounts(range: 5000...5003, persisted: "5000 alice\n5000 bob\n") }
        #expect(throws: ToolAccounts.Error.self) { try ToolAccounts(range: 5000...5003, persisted: "5000 ../x\n") }
    }

    @Test func rangesNeverIncludeRootOrNobody() throws {
        #expect(try ToolAccounts.parseRange("100-200") == 100...200)
        for bad in ["0-10", "65000-66000", "10", "20-10", "a-b", "1-4294967295"] {
            #expect(throws: ToolAccounts.Error.self) { try ToolAccounts.parseRange(bad) }
        }
    }

    @Test func directoryNamesAreSafe() {
        #expect(AgentDirectory.name("alice") == "alice")
        #expect(AgentDirectory.name("../bob").hasPrefix("agent-"))
        #expect(AgentDirectory.name("").hasPrefix("agent-"))
    }

    static let policy = """
    global_safety_ceiling: 90.0
    agent_nodes:
      - id: a
        privilege_tier: 1
        tool_limits: {workspace_mb: 32}
        sandbox_mode: best_effort
        invariants: []
      - id: b
        privilege_tier: 1
        invariants: []
    """

    @Test func policyFieldsLoadWithDefaultsAndSurviveTheCanonicalForm() throws {
        let p = try PolicyLoader.load(text: Self.policy, sourceName: "t.yaml")
        #expect(p.agents[0].toolLimits.workspaceMB == 32 && p.agents[0].sandboxMode == .bestEffort)
        #expect(p.agents[1].toolLimits.workspaceMB == 256 && p.agents[1].sandboxMode == .required)
        let back = try CanonicalPolicy.decode(CanonicalPolicy.encode(p))
        #expect(back.agents.map(\.sandboxMode) == [.bestEffort, .required])
        #expect(back.agents.map(\.toolLimits.workspaceMB) == [32, 256])
    }

    @Test func badPolicyValuesAreRefused() {
        let lines = Self.policy.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let swap = { (from: String, to: String) in lines.map { $0.contains(from) ? to : $0 }.joined(separator: "\n") }
        for bad in [swap("sandbox_mode", "    sandbox_mode: sometimes"), swap("tool_limits", "    tool_limits: {workspace_mb: 1}")] {
            #expect(throws: PolicyError.self) { try PolicyLoader.load(text: bad, sourceName: "t.yaml") }
        }
    }

    @Test func everyLayerHasAnAuditName() {
        #expect(SandboxLayers.all.names.count == 13)
        #expect(Set(SandboxLayers.all.names).count == 13)
    }
}
