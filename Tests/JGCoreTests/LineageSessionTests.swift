import JGGateCore
import Testing

@Suite struct LineageSessionTests {
    /// decisions_seen is per lineage session: each session counts from 1, independently of the others.
    @Test func sessionsCountTheirOwnDecisions() {
        let store = LineageStore(file: nil)
        #expect(store.countSessionDecision("a/10/1") == 1)
        #expect(store.countSessionDecision("a/10/1") == 2)
        #expect(store.countSessionDecision("a/11/5") == 1)
        #expect(store.countSessionDecision("a/10/1") == 3)
        // The same pid with another start time is another process: a new session.
        #expect(store.countSessionDecision("a/10/2") == 1)
    }
}
