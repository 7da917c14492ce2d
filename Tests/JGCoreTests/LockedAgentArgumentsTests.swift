import Testing
@testable import JGSandbox

/// The hand parser both `jinnguard agent run` (before its argument parser) and `jg-agent-run` use.
@Suite struct LockedAgentArgumentsTests {
    @Test func takesTheOptionsOfAgentRun() {
        guard case let .run(r) = LockedAgentArguments.parse(["--agent", "a", "--socket=/s", "--read-only", "/x", "--read-only=/y",
                                                               "--env", "A=1", "--best-effort", "--uid", "5:6", "--", "cmd", "--agent", "z"]) else {
            Issue.record("not parsed"); return
        }
        #expect(r.agent == "a" && r.socket == "/s" && r.readOnly == ["/x", "/y"] && r.env == ["A=1"] && r.bestEffort && r.uid == "5:6")
        #expect(r.command == ["cmd", "--agent", "z"])
    }

    @Test func cmdStartsAtTheFirstWordThatIsNoOption() {
        guard case let .run(r) = LockedAgentArguments.parse(["--agent", "a", "python3", "-c", "x"]) else { Issue.record("not parsed"); return }
        #expect(r.command == ["python3", "-c", "x"])
    }

    @Test func leavesTheRestToTheFullParser() {
        if case .help = LockedAgentArguments.parse(["--agent", "a", "--help"]) {} else { Issue.record("--help") }
        if case .unusable = LockedAgentArguments.parse(["--bogus", "--agent", "a", "--", "x"]) {} else { Issue.record("--bogus") }
        if case .unusable = LockedAgentArguments.parse(["--", "x"]) {} else { Issue.record("no --agent") }
        if case .unusable = LockedAgentArguments.parse(["--agent"]) {} else { Issue.record("no value") }
    }
}
