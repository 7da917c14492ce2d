import ArgumentParser
import Glibc
import JGIPC
import JGJSON

/// `jinnguard agent …`: operator actions on one agent of the running daemon.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent", abstract: "Operator actions on an agent of the running daemon.",
        subcommands: [ResetCounter.self, AgentRun.self])

    struct ResetCounter: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-counter",
            abstract: "Let the agent start its sequence counters again from 1 (audited).",
            discussion: "Talks to the running daemon over <state-dir>/operator.sock (root only). Exit 0 done, 1 refused, 2 not reachable.")
        @Argument(help: "The agent id.") var agent: String
        @Option(help: "The daemon's state directory (default: ./jinnguard-state, else the installed /var/lib/jinnguard).") var stateDir = InstalledLayout.defaultStateDir()

        func run() throws {
            let path = stateDir + "/operator.sock"
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { print("jinnguard: socket: \(String(cString: strerror(errno)))"); throw ExitCode(2) }
            let owned = OwnedFD(adopting: fd)
            var tv = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { print("jinnguard: path too long: \(path)"); throw ExitCode(2) }
            withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in bytes.enumerated() { p[i] = b } }
            let rc = withUnsafePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard rc == 0 else {
                print("jinnguard: cannot reach the daemon at \(path): \(String(cString: strerror(errno)))")
                throw ExitCode(2)
            }
            let body = Array(JSONWriter.write(.object([("command", .string("reset-counter")), ("agent", .string(agent))])).utf8)
            let frame = Frame.encode(body)
            guard frame.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == frame.count else {
                print("jinnguard: send failed"); throw ExitCode(2)
            }
            var input: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(owned.raw, &buf, buf.count)
                if n <= 0 { break }
                input += buf[0..<n]
            }
            guard input.count > Frame.headerSize, let v = try? JSONParser.parse(input[Frame.headerSize...]) else {
                print("jinnguard: no answer from the daemon")
                throw ExitCode(2)
            }
            let ok = v["ok"] == .bool(true)
            print("jinnguard: reset-counter \(agent): \(v["message"]?.stringValue ?? "")")
            if !ok { throw ExitCode(1) }
        }
    }
}
