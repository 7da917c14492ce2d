import Glibc
import JGBrokerCore
import JGGateCore
import JGIPC
import JGPolicy
import JGSandbox
import Testing

/// The decisions behind `jinnguard agent run` and its identity: the spec it builds, the cgroup the gate reads
/// an agent from, and where brokered writes may go.
@Suite struct LockedAgentTests {
    func options() -> LockedAgent.Options {
        LockedAgent.Options(agent: "research_agent", socket: "/var/lib/x/jinnguard.sock", secret: Array("k".utf8),
                            workspace: "/var/lib/x/workspace/research_agent", executable: "/usr/bin/python3",
                            arguments: ["python3", "-c", "pass"], uid: 1_600_000_001, gid: 1_600_000_001)
    }

    @Test func specShowsTheSocketAndKeyUnderRun() throws {
        var o = options()
        o.readOnly = ["/opt/sdk"]
        let s = try LockedAgent.spec(o, seccompFilter: [0, 0, 0, 0, 0, 0, 0, 0])
        #expect(s.exposedPaths == ["/var/lib/x/jinnguard.sock", "/opt/sdk"])
        #expect(s.exposedViews == [LockedAgent.socketInView])
        #expect(s.insideFile?.path == LockedAgent.secretInView && s.insideFile?.bytes == Array("k".utf8))
        #expect(s.layers.isSuperset(of: [.cgroupNamespace, .privateRun, .netNamespace, .seccomp, .landlockScope]))
        #expect(s.newSession && s.stdinFD == 0 && s.enforcement == .required)
        #expect(s.environment.contains("JINN_GUARD_SOCKET=/run/jinnguard/jinnguard.sock"))
        #expect(s.environment.contains("JINN_GUARD_SECRET_FILE=/run/jinnguard/secret"))
        #expect(s.environment.contains("JINN_AGENT_ID=research_agent"))
    }

    @Test func refusals() {
        var o = options()
        o.uid = 0
        #expect(throws: LockedAgent.Error.self) { try LockedAgent.spec(o, seccompFilter: []) }
        o = options()
        o.environment = ["JINN_AGENT_ID=someone_else"]
        #expect(throws: LockedAgent.Error.self) { try LockedAgent.spec(o, seccompFilter: []) }
        o.environment = ["1BAD=x"]
        #expect(throws: LockedAgent.Error.self) { try LockedAgent.spec(o, seccompFilter: []) }
        o = options()
        o.readOnly = ["relative/path"]
        #expect(throws: LockedAgent.Error.self) { try LockedAgent.spec(o, seccompFilter: []) }
        o = options()
        o.agent = "../escape"
        #expect(throws: LockedAgent.Error.self) { try LockedAgent.spec(o, seccompFilter: []) }
        o = options()
        o.environment = ["FOO=bar", "PATH=/opt/bin"]
        let env = (try? LockedAgent.spec(o, seccompFilter: []))?.environment ?? []
        #expect(env.contains("FOO=bar") && env.contains("PATH=/opt/bin") && !env.contains("PATH=/usr/local/bin:/usr/bin:/bin"))
    }

    @Test func lockedFilterExports() throws {
        let f = try Seccomp.exportLocked(SeccompProfiles.locked)
        #expect(!f.isEmpty && f.count % 8 == 0)
        #expect(LockedAgent.cgroupPrefix == LockedRuntime.cgroupPrefix)
    }

    @Test func runtimeIdentityFromTheCgroup() {
        let i = "s0123456789ab"
        #expect(RuntimeIdentity.parse("0::/jinnguard/\(i)/agents/a1/locked-42\n", instance: i) == RuntimeIdentity(agent: "a1", locked: true))
        #expect(RuntimeIdentity.parse("0::/jinnguard/\(i)/agents/a1/run-7\n", instance: i) == RuntimeIdentity(agent: "a1", locked: false))
        #expect(RuntimeIdentity.parse("0::/jinnguard/\(i)/agents/a1\n", instance: i) == RuntimeIdentity(agent: "a1", locked: false))
        // another daemon's instance, or anywhere else: no identity from the runtime
        #expect(RuntimeIdentity.parse("0::/jinnguard/s999999999999/agents/a1/locked-1\n", instance: i) == nil)
        #expect(RuntimeIdentity.parse("0::/user.slice/session-1.scope\n", instance: i) == nil)
        #expect(RuntimeIdentity.parse("0::/jinnguard/\(i)/agents/\n", instance: i) == nil)
        #expect(RuntimeIdentity.parse("0::/jinnguard/\(i)/agents/a1/locked-1\n", instance: "") == nil)
    }

    @Test func writablePaths() {
        let ws = "/state/workspace/a"
        func w(_ p: String) -> ProposedAction { ProposedAction(kind: "file_write", path: p, contents: "x") }
        #expect(HardRules.violation(w("rel.txt"), workspace: ws) == nil)
        #expect(HardRules.violation(w("/tmp/out/x"), workspace: ws) != nil)
        #expect(HardRules.violation(w("/tmp/out/x"), workspace: ws, writablePaths: ["/tmp/out"]) == nil)
        #expect(HardRules.violation(w("/tmp/outside"), workspace: ws, writablePaths: ["/tmp/out"]) != nil)
        #expect(HardRules.violation(w("/tmp/out/../x"), workspace: ws, writablePaths: ["/tmp/out"]) != nil)
        #expect(HardRules.violation(ProposedAction(kind: "file_read", path: "/tmp/out/x"), workspace: ws, writablePaths: ["/tmp/out"]) != nil)
        #expect(HardRules.violation(w("/etc/shadow"), workspace: ws, writablePaths: ["/etc"]) != nil)
        #expect(AgentPolicy.isWritablePath("/tmp/out"))
        for bad in ["/", "tmp", "/tmp/", "/tmp//x", "/tmp/../etc", "/tmp/./x"] { #expect(!AgentPolicy.isWritablePath(bad), "\(bad)") }
    }
}
