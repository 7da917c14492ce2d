import Glibc
import JGGateCore
import JGIPC
import JGJSON
import Testing

func fileText(_ path: String) -> String {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return "<unreadable>" }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fd, &buf, buf.count)
        if n <= 0 { break }
        bytes += buf[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

@Suite struct LineageStoreTests {
    /// Deferred journal writes: nothing reaches the file before `flush`, then every line in order.
    @Test func deferredWritesReachTheFileOnFlush() throws {
        var template = Array("/tmp/jg-lineage-test-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        try #require(fd >= 0)
        let path = CText.string(template)
        defer { unlink(path) }
        let store = LineageStore(file: OwnedFD(adopting: fd))
        store.deferWrites = true
        #expect(store.accept(agent: "a", sequence: 7))
        #expect(store.accept(agent: "b", sequence: 1))
        #expect(!store.accept(agent: "a", sequence: 7))
        #expect(fileText(path) == "")
        store.flush()
        #expect(fileText(path) == "\"a\" 7\n\"b\" 1\n")
        store.flush()
        #expect(store.accept(agent: "a", sequence: 8))
        store.flush()
        #expect(fileText(path) == "\"a\" 7\n\"b\" 1\n\"a\" 8\n")
        #expect(LineageStore(file: OwnedFD(adopting: open(path, O_RDWR))).lastSequence("a") == 8)
    }

    /// The journal keeps its line format (`"<id>" <counter>\n`) and a new store restores the counters from it.
    @Test func journalLinesAndRestore() throws {
        var template = Array("/tmp/jg-lineage-test-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        try #require(fd >= 0)
        let path = CText.string(template)
        defer { unlink(path) }
        let ids = ["claims_agent", "quote\"and\\back", "ünï ☃", "x"]
        let counters: [UInt64] = [1, 9, 10, 1_764_180_000_000_000_001, UInt64(Int64.max)]
        var expected = ""
        do {
            let store = LineageStore(file: OwnedFD(adopting: fd))
            for id in ids {
                for c in counters {
                    #expect(store.accept(agent: id, sequence: c))
                    expected += JSONWriter.quote(id) + " \(c)\n"
                }
                #expect(!store.accept(agent: id, sequence: 5))
            }
        }
        let rfd = open(path, O_RDONLY)
        try #require(rfd >= 0)
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(rfd, &buf, buf.count)
            if n <= 0 { break }
            bytes += buf[0..<n]
        }
        close(rfd)
        #expect(String(decoding: bytes, as: UTF8.self) == expected)
        let again = LineageStore(file: OwnedFD(adopting: open(path, O_RDWR | O_APPEND)))
        for id in ids {
            #expect(again.lastSequence(id) == UInt64(Int64.max))
            #expect(!again.accept(agent: id, sequence: 1_764_180_000_000_000_002))
        }
    }
}
