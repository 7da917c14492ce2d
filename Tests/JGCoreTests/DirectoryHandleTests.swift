import Glibc
import JGIPC
import Testing

@Suite struct DirectoryHandleTests {
    let state = DirectoryHandle(name: "/root/clone/jinnguard-state", fd: 6)

    @Test func childrenKeepNameAndAccessApart() {
        let ws = state.child("workspace").child("exec_agent")
        #expect(ws.name == "/root/clone/jinnguard-state/workspace/exec_agent")
        #expect(ws.access == "/proc/self/fd/6/workspace/exec_agent")
    }

    @Test func mapsBetweenNamesAndAccessPaths() {
        #expect(state.name(ofAccess: "/proc/self/fd/6/audit.jsonl.torn-1") == "/root/clone/jinnguard-state/audit.jsonl.torn-1")
        #expect(state.name(ofAccess: "/proc/self/fd/6") == state.name)
        // Only below the descriptor: /proc/self/fd/60 is another descriptor.
        #expect(state.name(ofAccess: "/proc/self/fd/60/x") == "/proc/self/fd/60/x")
        #expect(state.access(ofName: "/root/clone/jinnguard-state/workspace") == "/proc/self/fd/6/workspace")
        #expect(state.access(ofName: "/root/clone/jinnguard-state-other/x") == nil)
        #expect(state.naming("open /proc/self/fd/6/audit.jsonl: EIO") == "open /root/clone/jinnguard-state/audit.jsonl: EIO")
    }

    /// The magic link reaches the directory the descriptor names, whatever path it was opened by.
    @Test func reachesThroughTheDescriptor() throws {
        var template = Array("/tmp/jg-dirhandle-XXXXXX".utf8CString)
        let dir = try #require(mkdtemp(&template).map { String(cString: $0) })
        defer { unlink(dir + "/f"); rmdir(dir) }
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        #expect(fd >= 0)
        defer { close(fd) }
        let h = DirectoryHandle(name: dir, fd: fd)
        let f = open(h.child("f").access, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        #expect(f >= 0)
        close(f)
        #expect(access(dir + "/f", F_OK) == 0)
    }
}
