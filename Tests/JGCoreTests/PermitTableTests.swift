import JGIPC
import Logging
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
        #expect(JournalLogHandler.line(label: "jg-gate", level: .error, message: "x", journal: true) == "<3>jg-gate: error: x\n")
        #expect(JournalLogHandler.line(label: "jg-gate", level: .warning, message: "x", journal: true) == "<4>jg-gate: warning: x\n")
        #expect(JournalLogHandler.line(label: "jg-gate", level: .info, message: "x", journal: false) == "jg-gate: info: x\n")
    }
}
