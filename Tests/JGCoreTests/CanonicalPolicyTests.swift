import JGCrypto
import JGJSON
import JGPolicy
import JGPolicyYAML
import Testing

/// Every field the components read, with values that a lossy encoding would get wrong: fractions,
/// 64-bit extremes, IPv6 blocks, quotes and non-ASCII in invariants, an agent with nothing optional set.
let richPolicy = """
global_safety_ceiling: 87.35
deny_anonymous_agents: false
canary_resources: ["canary_decoy_a91f", "/srv/decoy/ключ"]
enforcement_scope:
  governed_path_prefixes: [/srv/agents, /var/lib/jobs]
runtime_policy:
  deny_root_peers: true
  allowed_peer_uids: [0, 10001, 4294967295]
  require_brokered_execution: true
  require_sandbox_namespace: false
agent_nodes:
  - id: claims_agent
    privilege_tier: 3
    allowed_peer_uids: [10001]
    allowed_intents: [read_customer_record, "run report"]
    allowed_executables: [echo, /usr/bin/python3]
    allowed_network_destinations: ["API.example.com:443", "[::1]:8080"]
    denied_destinations: [10.0.0.0/8, 192.168.1.7, "fd00::/8", "::1"]
    denied_directories: [/etc/secrets, /root]
    tool_limits:
      timeout_seconds: 2.5
      cpu_seconds: 0
      memory_mb: 64
      max_processes: 9
      output_bytes: 70000000
      file_size_mb: 3
    max_sequence_quota: 18446744073709551615
    max_risk_drift: 12.125
    invariants:
      - "spending_ceiling_usd <= 150"
      - "0.1 * fused_risk + 0.2 * trust_score <= 0.3 * 100 || !(privilege_tier >= 2 && is_root == 0)"
      - 'requested_amount_eur != 1e-3'
  - id: plain
    privilege_tier: 0
"""

@Suite struct CanonicalPolicyTests {
    func loadRich() throws -> Policy { try PolicyLoader.load(text: richPolicy, sourceName: "/etc/jinnguard/rich \"policy\".yaml") }

    @Test func roundTripKeepsWhatComponentsUse() throws {
        let p = try loadRich()
        let text = CanonicalPolicy.encode(p)
        let q = try CanonicalPolicy.decode(text)

        #expect(q.globalSafetyCeiling == p.globalSafetyCeiling)
        #expect(q.globalSafetyCeiling == 87.35)
        #expect(q.denyAnonymousAgents == false)
        #expect(q.canaryResources == p.canaryResources)
        #expect(q.governedPathPrefixes == ["/srv/agents", "/var/lib/jobs"])
        #expect(q.runtime == p.runtime)
        #expect(q.runtime.allowedPeerUIDs == [0, 10001, 4_294_967_295])
        #expect(q.agents == p.agents)
        #expect(q.sourceName == p.sourceName)
        // The digest is the YAML text's, carried as is: audit records and status keep naming the file.
        #expect(q.digest == Digest.sha256Hex(richPolicy))
        #expect(q.digest == p.digest)
        #expect(q.sourceText.isEmpty)

        let a = try #require(q.agent("claims_agent"))
        #expect(a.privilegeTier == 3)
        #expect(a.line == 12)
        #expect(a.allowedNetworkDestinations == ["api.example.com:443", "[::1]:8080"])
        #expect(a.deniedDestinations.map { CIDR($0) } == p.agents[0].deniedDestinations.map { CIDR($0) })
        #expect(a.deniedDestinations.allSatisfy { CIDR($0) != nil })
        #expect(a.toolLimits.timeoutSeconds == 2.5)
        #expect(a.toolLimits.cpuSeconds == 1)
        #expect(a.toolLimits.outputBytes == 64 << 20)
        #expect(a.maxSequenceQuota == UInt64.max)
        #expect(a.maxRiskDrift == 12.125)
        #expect(a.invariants.map(\.text) == p.agents[0].invariants.map(\.text))
        #expect(a.invariants.map(\.line) == [30, 31, 32])
        #expect(a.invariants.map(\.expression) == p.agents[0].invariants.map(\.expression))
        let plain = try #require(q.agent("plain"))
        #expect(plain.maxRiskDrift == nil)
        #expect(plain.invariants.isEmpty)
        #expect(plain.toolLimits == ToolLimits())

        // Canonical: writing the rebuilt policy gives the same bytes.
        #expect(CanonicalPolicy.encode(q) == text)
        #expect(try JSONParser.parse(text)["format"] == .string(CanonicalPolicy.format))
    }

    /// One edit of a valid canonical text each; every result must be refused with one line.
    @Test(arguments: [
        ("", ""),
        ("{", ""),
        ("[]", ""),
        ("truncated", ""),
        (#""format":"jinnguard-policy/1""#, #""format":"jinnguard-policy/2""#),
        (#","deny_anonymous_agents":false"#, ""),
        (#""deny_anonymous_agents":false"#, #""deny_anonymous_agents":"false""#),
        (#""deny_anonymous_agents":false"#, #""deny_anonymous_agents":false,"deny_anonymous_agents":true"#),
        (#""deny_anonymous_agents":false"#, #""deny_anonymous_agents":false,"extra":1"#),
        (#""sha256":""#, #""sha256":"AB"#),
        (#""sha256":""#, #""sha256":"0"#),
        (#""global_safety_ceiling":87.35"#, #""global_safety_ceiling":100.5"#),
        (#""global_safety_ceiling":87.35"#, #""global_safety_ceiling":null"#),
        (#""privilege_tier":3"#, #""privilege_tier":1001"#),
        (#""privilege_tier":3"#, #""privilege_tier":-1"#),
        (#""privilege_tier":3"#, #""privilege_tier":3.5"#),
        (#""id":"plain""#, #""id":"claims_agent""#),
        (#""id":"plain""#, #""id":" plain""#),
        (#""id":"plain""#, #""id":"""#),
        (#","max_risk_drift":null"#, ""),
        (#""max_risk_drift":12.125"#, #""max_risk_drift":0"#),
        (#"[0,10001,4294967295]"#, #"[0,10001,4294967296]"#),
        (#""memory_mb":64"#, #""memory_mb":8"#),
        (#""timeout_seconds":2.5"#, #""timeout_seconds":601"#),
        (#""10.0.0.0/8""#, #""10.0.0.0/33""#),
        (#""/etc/secrets""#, #""etc/secrets""#),
        (#""api.example.com:443""#, #""API.example.com:443""#),
        (#""api.example.com:443""#, #""api.example.com""#),
        (#""spending_ceiling_usd <= 150""#, #""spending_ceiling_usd <=""#),
        (#""spending_ceiling_usd <= 150","line":30"#, #""spending_ceiling_usd <= 150","line":0"#),
        (#""echo""#, #""""#),
        (#""echo""#, "1"),
        (#""invariants":[]"#, #""invariants":{}"#),
        (#"{"id":"plain""#, #"{"id":"plain\n""#),
    ])
    func malformedIsRefused(_ find: String, _ replacement: String) throws {
        let valid = CanonicalPolicy.encode(try loadRich())
        let text: String
        switch find {
        case "": text = ""
        case "{": text = "{"
        case "[]": text = "[]"
        case "truncated": text = String(valid.prefix(valid.count / 2))
        default:
            try #require(valid.contains(find), "fixture drifted: \(find)")
            text = valid.replacing(find, with: replacement, maxReplacements: 1)
        }
        #expect(text != valid)
        do {
            _ = try CanonicalPolicy.decode(text)
            Issue.record("accepted: \(find) -> \(replacement)")
        } catch {
            #expect(error.description.hasPrefix("canonical policy: "))
            #expect(!error.description.contains("\n"), "\(error)")
        }
    }

    @Test func oversizedIsRefused() throws {
        // Valid JSON, but longer than a configure message may carry (padding inside a string value).
        let valid = CanonicalPolicy.encode(try loadRich())
        let pad = String(repeating: "a", count: CanonicalPolicy.maxBytes)
        let text = valid.replacing(#""name":""#, with: #""name":""# + pad, maxReplacements: 1)
        #expect(throws: CanonicalPolicyError.self) { try CanonicalPolicy.decode(text) }
    }

    @Test func everyRequiredKeyIsRequired() throws {
        // Dropping any one key anywhere (here: every key of the document, one at a time) is refused.
        let root = try JSONParser.parse(CanonicalPolicy.encode(try loadRich()))
        var variants: [JSONValue] = []
        func drop(_ v: JSONValue, _ rebuild: (JSONValue) -> JSONValue) {
            guard case let .object(pairs) = v else {
                if case let .array(items) = v {
                    for i in items.indices { drop(items[i]) { n in var c = items; c[i] = n; return rebuild(.array(c)) } }
                }
                return
            }
            for i in pairs.indices {
                var without = pairs
                without.remove(at: i)
                variants.append(rebuild(.object(without)))
                drop(pairs[i].1) { n in var c = pairs; c[i].1 = n; return rebuild(.object(c)) }
            }
        }
        drop(root) { $0 }
        #expect(variants.count > 50)
        for v in variants {
            #expect(throws: CanonicalPolicyError.self) { try CanonicalPolicy.decode(JSONWriter.write(v)) }
        }
    }
}
