import ArgumentParser
import Glibc
import JGIPC
import JGJSON

/// `jinnguard approve ID` / `jinnguard reject ID`: an operator decides a hold (human approval bound to
/// the exact call; jg-broker's HoldStore). Served on the root-only operator socket like reset-counter
/// (LineageOperations.swift: mode 0600, peer uid 0 checked), relayed to jg-broker, which records it.
extension Supervisor {
    func holdRequest(_ fd: Int32, _ peer: PeerCredentials, _ v: JSONValue, approve: Bool) {
        guard let id = v["hold"]?.stringValue, !id.isEmpty else {
            operatorReply(fd, ok: false, message: "no hold id"); closeOperator(fd); return
        }
        guard let b = children[.broker], b.configured, let control = b.control, control.isOpen else {
            operatorReply(fd, ok: false, message: "jg-broker is not running; nothing was decided"); closeOperator(fd); return
        }
        let tag = lineageOps.nextTag
        lineageOps.nextTag += 1
        lineageOps.waiting[tag] = (fd, id, peer.uid, peer.pid)
        var w = LinkWriter(type: ControlRequest.holdDecision.rawValue)
        w.u64(tag); w.string(id); w.bool(approve); w.u32(peer.uid); w.i64(Int64(peer.pid))
        control.send(w)
    }

    func holdDecided(tag: UInt64, ok: Bool, message: String) {
        guard let w = lineageOps.waiting.removeValue(forKey: tag) else { return }
        Log.info("operator hold decision by uid \(w.uid): \(message)")
        operatorReply(w.fd, ok: ok, message: message)
        closeOperator(w.fd)
    }
}

/// The operator commands' side of the operator socket: one request, one answer.
enum OperatorClient {
    /// Exit 0 done, 1 refused, 2 not reachable (as `jinnguard agent reset-counter`).
    static func request(stateDir: String, _ body: JSONValue, what: String) throws {
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
        guard rc == 0 else { print("jinnguard: cannot reach the daemon at \(path): \(String(cString: strerror(errno)))"); throw ExitCode(2) }
        let frame = Frame.encode(JSONWriter.bytes(body))
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
            print("jinnguard: no answer from the daemon"); throw ExitCode(2)
        }
        print("jinnguard: \(what): \(v["message"]?.stringValue ?? "")")
        if v["ok"] != .bool(true) { throw ExitCode(1) }
    }
}

struct ApproveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve", abstract: "Approve a held call (DENY_HOLD_PENDING_REVIEW's hold id): it runs once, as stored.",
        discussion: "Root only, over <state-dir>/operator.sock. Exit 0 done, 1 refused, 2 not reachable.")
    @Argument(help: "The hold id.") var hold: String
    @Option(help: "The daemon's state directory.") var stateDir = "jinnguard-state"
    func run() throws {
        try OperatorClient.request(stateDir: stateDir, .object([("command", .string("approve")), ("hold", .string(hold))]), what: "approve")
    }
}

struct RejectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reject", abstract: "Reject a held call: its next retry is refused (DENY_HOLD_REJECTED).",
        discussion: "Root only, over <state-dir>/operator.sock. Exit 0 done, 1 refused, 2 not reachable.")
    @Argument(help: "The hold id.") var hold: String
    @Option(help: "The daemon's state directory.") var stateDir = "jinnguard-state"
    func run() throws {
        try OperatorClient.request(stateDir: stateDir, .object([("command", .string("reject")), ("hold", .string(hold))]), what: "reject")
    }
}
