import JGCrypto
import JGGateCore
import JGIPC
import Testing

@Suite struct ComponentIdentityTests {
    @Test func parsesIdsAndGroups() {
        #expect(ComponentIdentity.parse("--run-as=991:990") == ComponentIdentity(uid: 991, gid: 990))
        #expect(ComponentIdentity.parse("--run-as=991:990:989,988") == ComponentIdentity(uid: 991, gid: 990, groups: [989, 988]))
        #expect(ComponentIdentity(uid: 5, gid: 6, groups: [7]).argument == "--run-as=5:6:7")
    }

    @Test func refusesRootAndMalformed() {
        for bad in ["--run-as=0:990", "--run-as=991:0", "--run-as=991", "--run-as=a:b", "--run-as=1:2:0", "--run-as=1:2:", "--run-as=1:2:3:4",
                    "--run-as=-1:2", "run-as=1:2"] {
            #expect(ComponentIdentity.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func exactlyOneOnTheCommandLine() {
        #expect(throws: SystemError.self) { try ComponentIdentity.fromCommandLine(["jg-gate"]).get() }
        #expect(throws: SystemError.self) { try ComponentIdentity.fromCommandLine(["jg-gate", "--run-as=1:2", "--run-as=3:4"]).get() }
        #expect((try? ComponentIdentity.fromCommandLine(["jg-gate", "--run-as=1:2"]).get()) == ComponentIdentity(uid: 1, gid: 2))
        #expect(ComponentIdentity.strip(["jg-prover", "--run-as=1:2", "sandbox-selftest", "/x"]) == ["jg-prover", "sandbox-selftest", "/x"])
    }
}

@Suite struct SecretBytesTests {
    @Test func holdsACopyAndWipesTheSource() throws {
        var src: [UInt8] = Array("key material".utf8)
        let s = try #require(SecretBytes(taking: &src))
        #expect(src.isEmpty)
        #expect(s.copyBytes() == Array("key material".utf8))
        #expect(s.copyBytes(4..<12) == Array("material".utf8))
        #expect(s.count == 12)
    }

    @Test func hmacUnderSecretEqualsPlainHMAC() throws {
        let key: [UInt8] = Array("k3y".utf8), msg: [UInt8] = Array("payload".utf8)
        let s = try #require(SecretBytes(key))
        let a = msg.withUnsafeBytes { Digest.hmacSHA256(key: s, range: 0..<s.count, message: $0) }
        #expect(a == Digest.hmacSHA256(key: key, message: msg))
    }

    @Test func keySetVerifiesFromItsArena() {
        let payload = "{\"agent_id\":\"a\"}"
        func sig(_ k: String) -> String { Digest.hex(Digest.hmacSHA256(key: Array(k.utf8), message: Array(payload.utf8))) }
        let ks = KeySet(current: [Array("cur".utf8), Array("cur\n".utf8)], previous: [Array("old".utf8)], previousValidUntil: 100,
                        agentKeys: ["b": [Array("bee".utf8)]])
        #expect(ks.verify(payload: payload, signature: sig("cur"), claimedAgent: "a", now: 0))
        #expect(ks.verify(payload: payload, signature: sig("cur\n"), claimedAgent: "a", now: 0))
        #expect(ks.verify(payload: payload, signature: sig("old"), claimedAgent: "a", now: 100))
        #expect(!ks.verify(payload: payload, signature: sig("old"), claimedAgent: "a", now: 101))
        #expect(ks.verify(payload: payload, signature: sig("bee"), claimedAgent: "b", now: 0))
        #expect(!ks.verify(payload: payload, signature: sig("cur"), claimedAgent: "b", now: 0))
        #expect(!ks.verify(payload: payload, signature: sig("nope"), claimedAgent: "a", now: 0))
        #expect(ks.current == [Array("cur".utf8), Array("cur\n".utf8)] && ks.agentKeys["b"] == [Array("bee".utf8)])
    }

    @Test func ed25519KeyFromSecretMemorySigns() throws {
        let k = try #require(Ed25519Key.generate())
        let sig = try #require(k.sign([9, 9]))
        #expect(Ed25519Key.verify(publicKey: k.publicKey, message: [9, 9], signature: sig))
        let again = try #require(Ed25519Key(privateKey: k.privateKey))
        #expect(again.publicKey == k.publicKey)
    }
}

@Suite struct ComponentUserSetTests {
    let good: [Component: ComponentIdentity] = [.gate: .init(uid: 990, gid: 990), .prover: .init(uid: 991, gid: 991),
                                                .broker: .init(uid: 992, gid: 992), .kernel: .init(uid: 993, gid: 993)]

    @Test func distinctOwnIdsPass() { #expect(ComponentIdentity.problem(with: good) == nil) }

    @Test func sharedRootNobodyMissingOrAgentIdsFail() {
        var shared = good
        shared[.prover] = .init(uid: 990, gid: 991)
        #expect(ComponentIdentity.problem(with: shared)?.contains("distinct") == true)
        var nobody = good
        nobody[.gate] = .init(uid: 65534, gid: 65534)
        #expect(ComponentIdentity.problem(with: nobody)?.contains("nobody") == true)
        var missing = good
        missing[.kernel] = nil
        #expect(ComponentIdentity.problem(with: missing) == "no user for jg-kernel")
        #expect(ComponentIdentity.problem(with: good, agentUIDs: [10001, 992])?.contains("jg-broker") == true)
    }
}
