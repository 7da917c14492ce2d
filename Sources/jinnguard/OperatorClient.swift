import ArgumentParser
import Glibc
import JGIPC
import JGJSON

/// One request to the running supervisor over `<state>/operator.sock` (root only, peer uid checked there).
enum OperatorClient {
    enum Outcome { case answered(ok: Bool, message: String), unreachable(String) }

    static func request(stateDir: String, _ body: JSONValue, timeoutSeconds: Int = 10) -> Outcome {
        let path = stateDir + "/operator.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .unreachable("socket: \(String(cString: strerror(errno)))") }
        let owned = OwnedFD(adopting: fd)
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return .unreachable("path too long: \(path)") }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { return .unreachable("cannot reach the daemon at \(path): \(String(cString: strerror(errno))) (is `jinnguard run --state-dir \(stateDir)` running, and are you root?)") }
        let frame = Frame.encode(Array(JSONWriter.write(body).utf8))
        guard frame.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == frame.count else {
            return .unreachable("send to \(path) failed")
        }
        var input: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(owned.raw, &buf, buf.count)
            if n <= 0 { break }
            input += buf[0..<n]
        }
        guard input.count > Frame.headerSize, let v = try? JSONParser.parse(input[Frame.headerSize...]) else {
            return .unreachable("no answer from the daemon")
        }
        return .answered(ok: v["ok"] == .bool(true), message: v["message"]?.stringValue ?? "")
    }

    /// One request from a command line: its answer printed; exit 0 done, 1 refused, 2 not reachable.
    static func run(stateDir: String, _ body: JSONValue, what: String) throws {
        switch request(stateDir: stateDir, body) {
        case let .answered(ok, message):
            print("jinnguard: \(what): \(message)")
            if !ok { throw ExitCode(1) }
        case let .unreachable(why):
            print("jinnguard: \(why)")
            throw ExitCode(2)
        }
    }
}
