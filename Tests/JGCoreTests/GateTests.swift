import JGCrypto
import JGGateCore
import JGIPC
import JGJSON
import JGPolicy
import JGPolicyYAML
import Testing

let testPolicy = """
global_safety_ceiling: 90.0
deny_anonymous_agents: true
canary_resources: ["canary_decoy_a91f"]
agent_nodes:
  - id: claims_agent
    privilege_tier: 1
    allowed_intents: [read_customer_record, run_report]
    max_sequence_quota: 3
    invariants:
      - "spending_ceiling_usd <= 150"
  - id: bound_agent
    privilege_tier: 1
    allowed_peer_uids: [10001]
"""

func makeDecider() throws -> GateDecider {
    let p = try PolicyLoader.load(text: testPolicy, sourceName: "test.yaml")
    return GateDecider(policy: p, keys: KeySet(current: [Array("test-secret".utf8)]), lineage: LineageStore(file: nil))
}

func body(_ payload: String, key: String = "test-secret", signature: String? = nil) -> [UInt8] {
    let sig = signature ?? Digest.hex(Digest.hmacSHA256(key: Array(key.utf8), message: Array(payload.utf8)))
    return Array(JSONWriter.write(.object([("payload", .string(payload)), ("signature", .string(sig))])).utf8)
}

let nonRoot = PeerCredentials(pid: 1, uid: 10001, gid: 10001)
func seen(_ p: PeerCredentials) -> PeerObservation {
    PeerObservation(uid: p.uid, executable: "/usr/bin/python3", pidNamespace: "pid:[1]", startTime: 7, inOtherPidNamespace: false)
}

func token(_ d: GateDecider, _ b: [UInt8], peer: PeerCredentials = nonRoot) -> String {
    switch d.evaluate(body: b, peer: peer, now: 0, observe: seen) {
    case let .reject(t): return t.rawValue
    case let .deny(t, _, _): return t.rawValue
    case .forward: return "FORWARD"
    }
}

@Suite struct GateDeciderTests {
    @Test func tokensInContractOrder() throws {
        let d = try makeDecider()
        #expect(token(d, [0xff, 0xfe, 0]) == "DENY_ENCODING_ERROR")
        #expect(token(d, Array("not json".utf8)) == "DENY_MALFORMED_PAYLOAD")
        #expect(token(d, Array("{\"payload\":\"p\"}".utf8)) == "DENY_MALFORMED_PAYLOAD")
        #expect(token(d, Array("[]".utf8)) == "DENY_MALFORMED_PAYLOAD")
        #expect(token(d, body("{\"sequence_counter\":1}", signature: "zzzz")) == "DENY_TAMPERED_TOKEN")
        #expect(token(d, body("{\"sequence_counter\":1}", signature: String(repeating: "0", count: 64))) == "DENY_TAMPERED_TOKEN")
        #expect(token(d, body("not json either")) == "DENY_MALFORMED_PAYLOAD")
        #expect(token(d, body("{\"sequence_counter\":5.0,\"agent_id\":\"claims_agent\"}")) == "DENY_MALFORMED_PAYLOAD")
        #expect(token(d, body("{\"sequence_counter\":1}")) == "DENY_ANONYMOUS_AGENT_NOT_PERMITTED")
        #expect(token(d, body("{\"sequence_counter\":1,\"agent_id\":\"ghost\"}")) == "DENY_UNKNOWN_AGENT_ID")
        #expect(token(d, body("{\"sequence_counter\":1,\"agent_id\":\"bound_agent\"}"), peer: PeerCredentials(pid: 1, uid: 5, gid: 5)) == "DENY_AGENT_IDENTITY_BINDING")
        #expect(token(d, body("{\"sequence_counter\":0,\"agent_id\":\"claims_agent\"}")) == "DENY_REPLAY_ATTACK")
        #expect(token(d, body("{\"sequence_counter\":10,\"agent_id\":\"claims_agent\",\"intent_name\":\"read_canary_decoy_a91f\"}")) == "DENY_CANARY_TRIPWIRE")
        #expect(token(d, body("{\"sequence_counter\":10,\"agent_id\":\"claims_agent\",\"intent_name\":\"x\"}")) == "DENY_REPLAY_ATTACK",
                "a counter is consumed by the replay check even when a later check denies")
        #expect(token(d, body("{\"sequence_counter\":11,\"agent_id\":\"claims_agent\",\"intent_name\":\"rm_all\"}")) == "DENY_INTENT_NOT_ALLOWED")
        #expect(token(d, body("{\"sequence_counter\":12,\"agent_id\":\"claims_agent\",\"intent_name\":\"run_report\",\"delegation_token\":{\"a\":1}}")) == "DENY_DELEGATION_UNSUPPORTED")
    }

    @Test func quotaPerLineageSession() throws {
        let d = try makeDecider()
        for i in 1...3 {
            #expect(token(d, body("{\"sequence_counter\":\(i),\"agent_id\":\"claims_agent\",\"intent_name\":\"run_report\"}")) == "FORWARD")
        }
        #expect(token(d, body("{\"sequence_counter\":4,\"agent_id\":\"claims_agent\",\"intent_name\":\"run_report\"}")) == "DENY_QUOTA_EXHAUSTED")
    }

    @Test func authoritativeValuesCannotBeOverriddenByTheCaller() throws {
        let d = try makeDecider()
        let b = body("{\"sequence_counter\":1,\"agent_id\":\"claims_agent\",\"intent_name\":\"read_customer_record\",\"context_vars\":{\"fused_risk\":0}}")
        guard case let .forward(ctx) = d.evaluate(body: b, peer: PeerCredentials(pid: 1, uid: 0, gid: 0), now: 0, observe: seen) else {
            Issue.record("expected forward"); return
        }
        #expect(ctx.contextVars.first?.1 == 0)
        let fusedValue: Double? = ctx.authoritative.first(where: { $0.0 == "fused_risk" })?.1
        // Root peer: +25 observed; semantic 20 ("read"): max(0.55·20 + 0.30·25, 20, 25) = 25.
        #expect(fusedValue == 25.0)
    }
}

@Suite struct RiskTests {
    func fused(_ declared: Double?, uid: UInt32 = 10001) -> Double {
        var p = Proposal()
        p.intentName = "read_customer_record"
        p.actionRiskScore = declared
        let obs = PeerObservation(uid: uid, executable: "/x", pidNamespace: "pid:[1]", startTime: 0, inOtherPidNamespace: false)
        return RiskScorer.score(p, observation: obs).fused
    }

    @Test func workedOutcomesOfTheContract() {
        // Ceiling 90: ALLOW below 36, DENY above 90.
        for d in [10.0, 20, 30] { #expect(fused(d) < 36) }
        #expect(fused(95) > 90)
    }

    @Test func classifierGroupsInOrder() {
        var p = Proposal()
        p.intentName = "sudo shell"
        #expect(RiskScorer.semantic(p).1 == 90)
        p.intentName = "list files"
        #expect(RiskScorer.semantic(p).1 == 20)
        p.sourceCode = "x"
        #expect(RiskScorer.semantic(p).1 == 55)
        #expect(RiskScorer.topologyRisk(["network", "file_write", "exec"]) == 45)
    }
}

@Suite struct PolicyLoaderTests {
    @Test(arguments: [
        ("global_safety_ceiling: 90\nagent_nodes: []\nbogus: 1\n", 3),
        ("global_safety_ceiling: .nan\nagent_nodes: []\n", 1),
        ("global_safety_ceiling: 150\nagent_nodes: []\n", 1),
        ("global_safety_ceiling: 90\nagent_nodes:\n  - id: a\n    privilege_tier: 1\n  - id: a\n    privilege_tier: 1\n", 5),
        ("global_safety_ceiling: 90\nagent_nodes:\n  - id: a\n    privilege_tier: 1\n    invariants:\n      - \"x <=\"\n", 6),
        ("global_safety_ceiling: 90\nagent_nodes:\n  - id: a\n", 3),
    ])
    func errorsNameTheLine(_ text: String, _ line: Int) {
        do {
            _ = try PolicyLoader.load(text: text, sourceName: "p.yaml")
            Issue.record("accepted a bad policy")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.description.hasPrefix("p.yaml:\(line)"))
        }
    }
}
