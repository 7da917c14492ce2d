import JGBrokerCore
import JGCrypto
import JGIPC
import JGJSON
import JGMCP
import JGPolicy
import JGPolicyYAML
import Testing

@Suite struct MCPGatewayTests {
    @Test func messagesAreClassifiedAndIdsKeptAsText() throws {
        let call = try JSONRPCMessage.parse(Array(#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x"}}"#.utf8))
        #expect(call.kind == .request && call.method == "tools/call" && call.idKey == "7")
        let note = try JSONRPCMessage.parse(Array(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"a"}}"#.utf8))
        #expect(note.kind == .notification)
        let resp = try JSONRPCMessage.parse(Array(#"{"jsonrpc":"2.0","id":"a","result":{}}"#.utf8))
        #expect(resp.kind == .response && resp.idKey == "\"a\"")
        #expect(throws: JSONRPCMessage.Invalid.self) { try JSONRPCMessage.parse(Array("[1]".utf8)) }
        #expect(throws: JSONRPCMessage.Invalid.self) { try JSONRPCMessage.parse(Array(#"{"id":1}"#.utf8)) }
        // Duplicate keys could let two parsers read two different calls: refused.
        #expect(throws: JSONRPCMessage.Invalid.self) {
            try JSONRPCMessage.parse(Array(#"{"id":1,"method":"tools/call","method":"ping"}"#.utf8))
        }
    }

    @Test func canonicalArgumentsIgnoreKeyOrderButNotOneByte() throws {
        let a = try JSONParser.parse(#"{"b":1,"a":{"y":[1,2],"x":"v"}}"#)
        let b = try JSONParser.parse(#"{"a":{"x":"v","y":[1,2]},"b":1}"#)
        let c = try JSONParser.parse(#"{"a":{"x":"w","y":[1,2]},"b":1}"#)
        #expect(CanonicalJSON.text(a) == #"{"a":{"x":"v","y":[1,2]},"b":1}"#)
        #expect(CanonicalJSON.digest(a) == CanonicalJSON.digest(b))
        #expect(CanonicalJSON.digest(a) != CanonicalJSON.digest(c))
    }

    @Test func proposalCarriesToolArgumentsAndNumericContextVars() throws {
        let args = try JSONParser.parse(#"{"payee":"bob","amount_usd":50}"#)
        let p = ToolCallProposal(agentID: "a", server: "pay", tool: "pay", intent: "payment", arguments: args)
        let v = try JSONParser.parse(p.payload(sequence: 9))
        #expect(v["intent_name"] == .string("payment"))
        #expect(v["execute"] == .bool(false))
        #expect(v["context_vars"]?["amount_usd"]?.doubleValue == 50)
        #expect(v["context_vars"]?["payee"] == nil)
        #expect(v["proposed_action"]?["kind"] == .string(MCPActionKinds.call))
        #expect(v["proposed_action"]?["contents"] == .string(#"{"amount_usd":50,"payee":"bob"}"#))
        #expect(p.argumentsDigest == Digest.sha256Hex(#"{"amount_usd":50,"payee":"bob"}"#))
        // The envelope is the contract's: HMAC over the payload text.
        let env = try JSONParser.parse(ToolCallProposal.envelope(payload: "{\"sequence_counter\":1}", key: Array("unit-test-secret-key".utf8)))
        #expect(env["signature"] == .string("a9a3477e0b191ad737e46d0a5d98f70ff2374512800bbfde830a13dc6dbc1475"))
    }

    @Test func verdictsFailClosed() {
        #expect(DaemonVerdict.parse(Array("SIGNAL: ALLOW\n".utf8)) == .allow)
        let c = DaemonVerdict.parse(Array("SIGNAL: CONSTRAIN\n{\"redact_output\":true,\"rate_limit_rps\":5,\"allowed_network_destinations\":[],\"output_byte_limit\":10}\n".utf8))
        #expect(c == .constrain(ResultLimits(outputByteLimit: 10, redact: true)))
        #expect(DaemonVerdict.parse(Array("SIGNAL: DENY_HOLD_PENDING_REVIEW\nhold-ab\n".utf8)) == .deny(token: "DENY_HOLD_PENDING_REVIEW", detail: "hold-ab"))
        // A CONSTRAIN without its limits, or anything unexpected, is a denial.
        if case .deny = DaemonVerdict.parse(Array("SIGNAL: CONSTRAIN\n".utf8)) {} else { Issue.record("CONSTRAIN without limits allowed") }
        if case .deny = DaemonVerdict.parse(Array("SIGNAL: MAYBE\n".utf8)) {} else { Issue.record("unknown token allowed") }
        if case .deny = DaemonVerdict.parse([0xff, 0xfe]) {} else { Issue.record("bad bytes allowed") }
    }

    @Test func constrainRedactsAndCapsContentAndStructuredContent() throws {
        let r = try JSONParser.parse(#"{"content":[{"type":"text","text":"password=hunter2 é and more"}],"structuredContent":{"result":"token=abc"},"isError":false}"#)
        let out = ToolResults.limited(r, ResultLimits(outputByteLimit: 20, redact: true))
        let text = out["content"]?.arrayFirst?["text"]?.stringValue ?? ""
        #expect(!text.contains("hunter2") && text.utf8.count <= 20)
        #expect(out["content"]?.arrayFirst?["type"] == .string("text"))
        let structured = out["structuredContent"]?["result"]?.stringValue ?? "abc"
        #expect(structured.contains("[REDACTED]") && !structured.contains("abc"))
        #expect(out["_meta"]?["io.jinnguard/constraints"]?["truncated"] == .bool(true))
        #expect(out["isError"] == .bool(false))
    }

    @Test func deniedResultIsAToolErrorNamingTheToken() {
        let d = ToolResults.denied(token: "DENY_VIOLATION", detail: nil, tool: "pay", modern: true)
        #expect(d["isError"] == .bool(true))
        #expect(d["content"]?.arrayFirst?["text"]?.stringValue?.hasPrefix("DENY_VIOLATION") == true)
        #expect(d["resultType"] == .string("complete"))
        #expect(ToolResults.denied(token: "DENY_X", detail: nil, tool: "t")["resultType"] == nil)
    }

    @Test func listFilterFollowsAllowedIntentsAndTheIntentMap() throws {
        let list = try JSONParser.parse(#"{"tools":[{"name":"a"},{"name":"b"},{"name":"c"}],"nextCursor":"x"}"#)
        let view = ToolPolicyView(allowedIntents: ["a", "read"], intentMap: ["c": "read"])
        let out = ToolResults.filteredList(list, allowed: view.lists)
        #expect(out["tools"] == .array([.object([("name", .string("a"))]), .object([("name", .string("c"))])]))
        #expect(out["nextCursor"] == .string("x"))
        #expect(ToolPolicyView(allowedIntents: [], intentMap: [:]).lists("anything"))
    }

    @Test func httpAccessChecksHostOriginAndToken() {
        let a = HTTPAccess(port: 8080, token: Array("0123456789abcdef".utf8))
        #expect(a.check(origin: nil, host: "127.0.0.1:8080", authorization: "Bearer 0123456789abcdef") == nil)
        #expect(a.check(origin: "http://localhost:8080", host: "localhost:8080", authorization: "bearer 0123456789abcdef") == nil)
        #expect(a.check(origin: "http://evil.example", host: "127.0.0.1:8080", authorization: "Bearer 0123456789abcdef") == .forbidden("Origin not allowed"))
        #expect(a.check(origin: nil, host: "evil.example:8080", authorization: "Bearer 0123456789abcdef") == .forbidden("Host not allowed"))
        #expect(a.check(origin: nil, host: "127.0.0.1:8080", authorization: "Bearer 0123456789abcdeX") == .unauthorized)
        #expect(a.check(origin: nil, host: "127.0.0.1:8080", authorization: nil) == .unauthorized)
    }
}

@Suite struct HoldStoreTests {
    let action = ProposedAction(kind: "mcp_tool_call", contents: #"{"p":1}"#, url: "mcp://s/t", method: "t")

    @Test func approvedHoldRunsOnceForTheSameCallAgentAndPolicy() {
        var s = HoldStore()
        guard case let .pending(id, true) = s.propose(agent: "a", intent: "t", action: action, policyDigest: "P", holdSeconds: 60, now: 100) else {
            Issue.record("no hold"); return
        }
        #expect(s.propose(agent: "a", intent: "t", action: action, policyDigest: "P", holdSeconds: 60, now: 101) == .pending(id: id, isNew: false))
        guard case .done = s.decide(id: id, approve: true, by: 0, now: 102) else { Issue.record("not decided"); return }
        #expect(s.decide(id: id, approve: true, by: 0, now: 102) == .alreadyDecided(.approved))
        var other = action
        other.contents = #"{"p":2}"#
        if case .approved = s.propose(agent: "a", intent: "t", action: other, policyDigest: "P", holdSeconds: 60, now: 103) { Issue.record("mutated call ran") }
        if case .approved = s.propose(agent: "b", intent: "t", action: action, policyDigest: "P", holdSeconds: 60, now: 103) { Issue.record("other agent ran") }
        if case .approved = s.propose(agent: "a", intent: "t", action: action, policyDigest: "Q", holdSeconds: 60, now: 103) { Issue.record("other policy ran") }
        guard case let .approved(h) = s.propose(agent: "a", intent: "t", action: action, policyDigest: "P", holdSeconds: 60, now: 104) else {
            Issue.record("approved call refused"); return
        }
        #expect(h.action == action)
        if case .approved = s.propose(agent: "a", intent: "t", action: action, policyDigest: "P", holdSeconds: 60, now: 105) { Issue.record("ran twice") }
    }

    @Test func rejectedAndExpiredHoldsAreRefusedAndTheStoreRoundTrips() throws {
        var s = HoldStore()
        guard case let .pending(id, _) = s.propose(agent: "a", intent: "t", action: action, policyDigest: "P", holdSeconds: 10, now: 0) else { return }
        let back = try HoldStore.decode(s.encoded())
        #expect(back.holds == s.holds)
        #expect(s.decide(id: id, approve: true, by: 0, now: 11) == .expired)
        guard case let .pending(id2, _) = s.propose(agent: "a", intent: "t", action: action, policyDigest: "P", holdSeconds: 10, now: 20) else { return }
        _ = s.decide(id: id2, approve: false, by: 0, now: 21)
        #expect(s.propose(agent: "a", intent: "t", action: action, policyDigest: "P", holdSeconds: 10, now: 22) == .rejected(id: id2))
        guard case let .pending(id3, _) = s.propose(agent: "a", intent: "t", action: action, policyDigest: "P", holdSeconds: 10, now: 30) else { return }
        #expect(s.propose(agent: "a", intent: "t", action: action, policyDigest: "P", holdSeconds: 10, now: 41) == .expired(id: id3))
        #expect(throws: HoldStore.Corrupt.self) { try HoldStore.decode(Array("{}".utf8)) }
    }

    @Test func policyRoundTripsApprovalAndMode() throws {
        let yaml = """
            global_safety_ceiling: 90
            deny_anonymous_agents: true
            agent_nodes:
              - id: a
                privilege_tier: 1
                mode: shadow
                require_approval: {intents: [t], risk_at_least: 70, hold_seconds: 30}
            """
        let p = try PolicyLoader.load(text: yaml, sourceName: "t.yaml")
        let back = try CanonicalPolicy.decode(CanonicalPolicy.encode(p))
        #expect(back.agent("a")?.mode == .shadow)
        #expect(back.agent("a")?.requireApproval?.intents == ["t"])
        #expect(back.agent("a")?.requireApproval?.riskAtLeast == 70)
        #expect(back.agent("a")?.requireApproval?.requires(intent: "x", fusedRisk: 71) == true)
        #expect(back.agent("a")?.requireApproval?.requires(intent: "x", fusedRisk: 10) == false)
        #expect(throws: PolicyError.self) { try PolicyLoader.load(text: yaml.replacingOccurrences("mode: shadow", "mode: sometimes"), sourceName: "t") }
    }
}

extension JSONValue {
    var arrayFirst: JSONValue? {
        if case let .array(a) = self { return a.first }
        return nil
    }
}

extension String {
    func replacingOccurrences(_ a: String, _ b: String) -> String {
        var out = ""
        var rest = Substring(self)
        while let r = rest.range(of: a) {
            out += rest[..<r.lowerBound] + b
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
