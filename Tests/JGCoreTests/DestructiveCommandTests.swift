import JGBrokerCore
import JGGateCore
import JGIPC
import JGPolicy
import Testing

@Suite struct DestructiveCommandTests {
    @Test(arguments: ["rm -r -f /x", "rm -f -r /x", "r''m -rf /x", "rm -R --force /x", "\"rm\" -rf /x", "sudo rm -fr /home",
                      "echo; /bin/rm -r -f -- /x", "rm -rfv /x"])
    func refusedLikeRmRf(_ c: String) {
        #expect(HardRules.violation(ProposedAction(kind: "shell_command", command: c)) != nil, "\(c)")
    }

    @Test(arguments: ["rm -r ./build", "rm -f /tmp/x", "rm -rf build", "echo rm -r -f /x", "ls -rf /"])
    func notDestructive(_ c: String) {
        #expect(HardRules.violation(ProposedAction(kind: "shell_command", command: c)) == nil, "\(c)")
    }
}
