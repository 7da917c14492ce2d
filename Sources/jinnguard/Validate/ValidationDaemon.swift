import CJGSys
import Glibc
import JGIPC

/// A fresh `jinnguard run` of our own in a temporary directory (its own policy copy, secret, socket,
/// audit log, metrics port), stopped and removed afterwards.
final class ValidationDaemon {
    let dir: String
    let pid: pid_t
    let port: UInt16
    var socketPath: String { dir + "/state/jinnguard.sock" }
    var auditLog: String { dir + "/state/audit.jsonl" }
    var secretFile: String { dir + "/state/secret" }
    var logFile: String { dir + "/daemon.log" }

    struct Failure: Error, CustomStringConvertible { var description: String }

    init(policyText: String) throws(Failure) {
        var template = Array("/tmp/jg-validate-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw Failure(description: "cannot make a temporary directory: \(String(cString: strerror(errno)))") }
        dir = String(cString: made)
        // Agents of other users (and the components) must reach the socket below it.
        chmod(dir, 0o755)
        let policyPath = dir + "/policy.yaml"
        do { try writeFile(policyPath, policyText) } catch { throw Failure(description: "cannot write \(policyPath)") }
        guard let p = Self.freePort() else { throw Failure(description: "no free loopback port for /metrics") }
        port = p
        let log = open(dir + "/daemon.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard log >= 0 else { throw Failure(description: "cannot create \(dir)/daemon.log") }
        defer { close(log) }
        let exe = Supervisor.executableDir() + "/jinnguard"
        let args = [exe, "run", "--state-dir", dir + "/state", "--policy-file", policyPath]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        // The caller's own JINNGUARD_METRICS_PORT (the running daemon's) is put back afterwards.
        let inherited = getenv("JINNGUARD_METRICS_PORT").map { String(cString: $0) }
        setenv("JINNGUARD_METRICS_PORT", String(p), 1)
        let child = jg_sys_spawn(exe, &argv, [log, log], [1, 2], 2)
        if let inherited { setenv("JINNGUARD_METRICS_PORT", inherited, 1) } else { unsetenv("JINNGUARD_METRICS_PORT") }
        guard child > 0 else { throw Failure(description: "cannot start \(exe): \(String(cString: strerror(errno)))") }
        pid = child
    }

    /// Waits for the ready line (start-up is bounded by the supervisor itself: 60 s).
    func waitReady() throws(Failure) {
        for _ in 0..<1800 {
            if let t = Files.readText(logFile), t.contains("jinnguard: ready") { return }
            var st: Int32 = 0
            if waitpid(pid, &st, WNOHANG) == pid {
                throw Failure(description: "the temporary daemon exited before it was ready:\n" + (Files.readText(logFile) ?? ""))
            }
            usleep(50_000)
        }
        throw Failure(description: "the temporary daemon was not ready within 90 s")
    }

    /// SIGTERM (the broker writes its shutdown record), wait; true when it exited 0.
    @discardableResult
    func stop() -> Bool {
        kill(pid, SIGTERM)
        var st: Int32 = 0
        for _ in 0..<600 {
            if waitpid(pid, &st, WNOHANG) == pid { return (st & 0x7f) == 0 && (st >> 8) & 0xff == 0 }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &st, 0)
        return false
    }

    func remove() {
        let rmArgs: [String] = ["/bin/rm", "-rf", "--", dir]
        var argv: [UnsafeMutablePointer<CChar>?] = rmArgs.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let child = jg_sys_spawn("/bin/rm", &argv, [], [], 0)
        var st: Int32 = 0
        if child > 0 { waitpid(child, &st, 0) }
    }

    static func freePort() -> UInt16? {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { return nil }
        defer { close(s) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, len) == 0 && getsockname(s, $0, &len) == 0 }
        }
        return ok ? UInt16(bigEndian: addr.sin_port) : nil
    }
}

/// GET /metrics on 127.0.0.1: the decision counters by verdict.
enum MetricsScrape {
    static func decisions(port: UInt16) -> [String: Double]? {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { return nil }
        defer { close(s) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let rc = withUnsafePointer(to: &addr) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { return nil }
        let req = Array("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard send(s, req, req.count, Int32(MSG_NOSIGNAL)) == req.count else { return nil }
        var input: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(s, &buf, buf.count)
            if n <= 0 { break }
            input += buf[0..<n]
        }
        let text = String(decoding: input, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 200") else { return nil }
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("jinnguard_decisions_total{") || line.hasPrefix("jinnguard_proposals_total") {
            let parts = line.split(separator: " ")
            guard parts.count >= 2, let v = Double(parts[parts.count - 1].jgTrimmed("\r")) else { continue }
            let key = String(parts[0])
            if let r = key.range(of: "verdict=\"") {
                let rest = key[r.upperBound...]
                out[String(rest.prefix { $0 != "\"" })] = v
            } else {
                out["proposals"] = v
            }
        }
        return out
    }
}

extension StringProtocol {
    func jgTrimmed(_ set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
