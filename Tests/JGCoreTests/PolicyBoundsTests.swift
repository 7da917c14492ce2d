import JGPolicy
import JGPolicyYAML
import Testing

/// Tool limits beyond what the broker can hand to setrlimit (after `<< 20` for the MiB ones) are load
/// errors, in the YAML and in the canonical form the components decode (#16).
@Suite struct PolicyBoundsTests {
    static func yaml(_ limits: String) -> String {
        "global_safety_ceiling: 75.0\nagent_nodes:\n  - id: a\n    privilege_tier: 1\n    tool_limits: {\(limits)}\n    invariants: [\"x <= 1\"]\n"
    }

    @Test(arguments: [("memory_mb", "17592186044416"), ("memory_mb", "1048577"), ("file_size_mb", "17592186044416"),
                      ("cpu_seconds", "18446744073709551615"), ("cpu_seconds", "86401"), ("max_processes", "9223372036854775808")])
    func yamlRefusesLimitsBeyondTheirBound(key: String, value: String) {
        do {
            _ = try PolicyLoader.load(text: Self.yaml("\(key): \(value)"), sourceName: "p.yaml")
            Issue.record("\(key): \(value) loaded")
        } catch {
            #expect(error.line == 5, "\(error)")
            #expect(error.reason.hasPrefix(key) && error.reason.hasSuffix("got \(value)"), "\(error)")
        }
    }

    @Test func yamlLoadsTheLargestAllowedLimits() throws {
        let p = try PolicyLoader.load(text: Self.yaml("memory_mb: 1048576, file_size_mb: 1048576, cpu_seconds: 86400, max_processes: 4194304"),
                                      sourceName: "p.yaml")
        let t = try #require(p.agent("a")).toolLimits
        #expect(t.memoryMB << 20 == 1 << 40 && t.fileSizeMB == 1 << 20 && t.cpuSeconds == 86_400 && t.maxProcesses == 1 << 22)
    }

    @Test func canonicalDecodeRefusesAnOversizedMemoryLimit() throws {
        let good = CanonicalPolicy.encode(try PolicyLoader.load(text: Self.yaml("memory_mb: 512"), sourceName: "p.yaml"))
        #expect(good.contains("\"memory_mb\":512"))
        let bad = good.replacing("\"memory_mb\":512", with: "\"memory_mb\":17592186044416")
        do {
            _ = try CanonicalPolicy.decode(bad)
            Issue.record("oversized memory_mb decoded")
        } catch {
            #expect(error.path.hasSuffix("memory_mb"), "\(error)")
        }
    }
}
