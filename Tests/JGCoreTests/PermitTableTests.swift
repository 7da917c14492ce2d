import JGIPC
import Testing

@Suite struct PermitTableTests {
    @Test func everyLinkAdmitsExactlyItsMessages() throws {
        var gateFromBroker = PermitChecker(from: .component(.broker), to: .component(.gate))
        try gateFromBroker.admit(BrokerToGate.reply.rawValue)
        try gateFromBroker.admit(BrokerToGate.ready.rawValue)
        try gateFromBroker.admit(BrokerToGate.reply.rawValue)
        // once-only: a second ready on the same link breaks it
        #expect(throws: LinkProtocolError.self) { try gateFromBroker.admit(BrokerToGate.ready.rawValue) }
        // a type of another link's set breaks it
        var proverFromGate = PermitChecker(from: .component(.gate), to: .component(.prover))
        #expect(throws: LinkProtocolError.self) { try proverFromGate.admit(GateToBroker.agentEvent.rawValue + 1) }
        // nothing at all may go gate -> kernel
        var kernelFromGate = PermitChecker(from: .component(.gate), to: .component(.kernel))
        #expect(PermitTable.of(from: .component(.gate), to: .component(.kernel)).permits.isEmpty)
        #expect(throws: LinkProtocolError.self) { try kernelFromGate.admit(1) }
    }

    @Test func openingMessageComesFirstAndOnce() throws {
        let t = PermitTable(from: .component(.prover), to: .supervisor, [Permit(1, opens: true), Permit(2)])
        var early = PermitChecker(t)
        #expect(throws: LinkProtocolError.self) { try early.admit(2) }
        var fine = PermitChecker(t)
        try fine.admit(1)
        try fine.admit(2)
        #expect(throws: LinkProtocolError.self) { try fine.admit(1) }
    }

    @Test func controlLinkSaysReadyOnce() throws {
        var ok = PermitChecker(from: .component(.prover), to: .supervisor)
        try ok.admit(ControlReport.ready.rawValue)
        try ok.admit(ControlReport.status.rawValue)
        #expect(throws: LinkProtocolError.self) { try ok.admit(ControlReport.ready.rawValue) }
        // gate-only reports and the rendezvous hello are not the prover's to send on a control link
        var p2 = PermitChecker(from: .component(.prover), to: .supervisor)
        try p2.admit(ControlReport.ready.rawValue)
        #expect(throws: LinkProtocolError.self) { try p2.admit(ControlReport.observePeer.rawValue) }
        #expect(throws: LinkProtocolError.self) { try p2.admit(ControlReport.hello.rawValue) }
    }

    @Test func supervisorRequestsArePerComponent() throws {
        var broker = PermitChecker(from: .supervisor, to: .component(.broker))
        try broker.admit(ControlRequest.auditEvent.rawValue)
        #expect(throws: LinkProtocolError.self) { try broker.admit(ControlRequest.resetCounter.rawValue) }
        var gate = PermitChecker(from: .supervisor, to: .component(.gate))
        try gate.admit(ControlRequest.lineageCompact.rawValue)
        // the rendezvous handoff is never a control-link message
        #expect(throws: LinkProtocolError.self) { try gate.admit(ControlRequest.handoff.rawValue) }
    }

    @Test func journalLinesCarryPriorities() {
        #expect(JournalLine.line(label: "jg-gate", level: .error, message: "x", journal: true) == "<3>jg-gate: error: x\n")
        #expect(JournalLine.line(label: "jg-gate", level: .warning, message: "x", journal: true) == "<4>jg-gate: warning: x\n")
        #expect(JournalLine.line(label: "jg-gate", level: .info, message: "x", journal: false) == "jg-gate: info: x\n")
    }
}

@Suite struct CgroupLayoutTests {
    static let hybrid = """
    35 24 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
    36 35 0:31 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
    37 35 0:32 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
    """
    static let unified = """
    30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
    """

    @Test func findsTheUnifiedHierarchyWhereverItIsMounted() {
        #expect(CgroupLayout.unifiedMount(mountinfo: Self.hybrid) == "/sys/fs/cgroup/unified")
        #expect(CgroupLayout.unifiedMount(mountinfo: Self.unified) == "/sys/fs/cgroup")
        #expect(CgroupLayout.unifiedMount(mountinfo: "30 24 0:26 / /sys/fs/cgroup/sys\\040d rw - cgroup2 cgroup2 rw\n") == "/sys/fs/cgroup/sys d")
        #expect(CgroupLayout.unifiedMount(mountinfo: "37 35 0:32 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw\n") == nil)
    }

    @Test func ownCgroupFromProcSelfCgroup() {
        #expect(CgroupLayout.ownCgroup(procCgroup: "0::/system.slice/jg-broker.service\n", mount: "/sys/fs/cgroup") == "/sys/fs/cgroup/system.slice/jg-broker.service")
        #expect(CgroupLayout.ownCgroup(procCgroup: "1:name=systemd:/x\n0::/\n", mount: "/sys/fs/cgroup/unified") == "/sys/fs/cgroup/unified")
        #expect(CgroupLayout.ownCgroup(procCgroup: "0::/a/../b\n", mount: "/m") == nil)
        #expect(CgroupLayout.ownCgroup(procCgroup: "1:name=systemd:/x\n", mount: "/m") == nil)
    }
}
