import Glibc
import JGIPC
import Testing

/// The broker under systemd reopens a handed directory by its name (OwnMountView): only the very same
/// directory replaces the descriptor; anything else leaves it as it was.
@Suite struct OwnMountViewTests {
    func tempDir(_ tag: String) throws -> String {
        var template = Array("/tmp/jg-ownview-\(tag)-XXXXXX".utf8CString)
        return try #require(mkdtemp(&template).map { String(cString: $0) })
    }

    func inode(_ fd: Int32) -> UInt64 {
        var st = stat()
        return fstat(fd, &st) == 0 ? UInt64(st.st_ino) : 0
    }

    @Test func theSameDirectoryTakesTheDescriptorsPlace() throws {
        let dir = try tempDir("same")
        defer { rmdir(dir) }
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        #expect(fd >= 0)
        defer { close(fd) }
        let before = inode(fd)
        #expect(OwnMountView.reopen(fd: fd, name: dir) == nil)
        #expect(inode(fd) == before)
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0, "never passed on to a tool")
    }

    @Test func anotherDirectoryByThatNameLeavesTheDescriptorAlone() throws {
        let a = try tempDir("a"), b = try tempDir("b")
        defer { rmdir(a); rmdir(b) }
        let fd = open(a, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        #expect(fd >= 0)
        defer { close(fd) }
        let before = inode(fd)
        #expect(OwnMountView.reopen(fd: fd, name: b) != nil)
        #expect(OwnMountView.reopen(fd: fd, name: a + "/missing") != nil)
        #expect(inode(fd) == before)
    }

    @Test func onlyProcSelfFdAccessPathsNameADescriptor() {
        #expect(OwnMountView.descriptor(ofAccess: "/proc/self/fd/6") == 6)
        #expect(OwnMountView.descriptor(ofAccess: "/var/lib/jinnguard") == nil)
        #expect(OwnMountView.descriptor(ofAccess: "/proc/self/fd/x") == nil)
    }
}
