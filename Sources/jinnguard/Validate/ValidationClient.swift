import Glibc
import JGCrypto
import JGIPC
import JGJSON

/// One proposal to an agent socket, answered by its first-line token: what a harness of the original
/// system sends (PROTOCOL.md §2-§4), signed with the given key.
struct ValidationRequest {
    var agent: String?
    var intent: String
    var risk: Double
    var sequence: UInt64
    var forgeSignature = false
    var spending = true
    /// Raw bytes to send instead of a proposal (malformed-frame checks).
    var raw: [UInt8]?

    func frame(key: [UInt8]) -> [UInt8] {
        if let raw { return raw }
        var fields: [(String, JSONValue)] = [("intent_name", .string(intent))]
        if let agent { fields.append(("agent_id", .string(agent))) }
        fields += [("sequence_counter", .integer(.unsigned(sequence))), ("session_privilege_bit", .number(0)),
                   ("action_risk_score", .number(risk))]
        // The example policy's claims_agent has an invariant over spending_ceiling_usd: a value is declared.
        if spending { fields.append(("context_vars", .object([("spending_ceiling_usd", .number(20))]))) }
        let payload = JSONWriter.write(.object(fields))
        let sig = forgeSignature ? String(repeating: "0", count: 64) : Digest.hex(Digest.hmacSHA256(key: key, message: Array(payload.utf8)))
        return Frame.encode(Array(JSONWriter.write(.object([("payload", .string(payload)), ("signature", .string(sig))])).utf8))
    }
}

enum ValidationClient {
    /// The reply's token ("ALLOW", "DENY_…"), or a sentence in brackets when there was none.
    static func send(_ bytes: [UInt8], socketPath: String, timeoutSeconds: Int = 15) -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return "[no socket]" }
        defer { close(fd) }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let p = Array(socketPath.utf8)
        guard p.count < MemoryLayout.size(ofValue: addr.sun_path) else { return "[socket path too long]" }
        withUnsafeMutableBytes(of: &addr.sun_path) { b in for (i, c) in p.enumerated() { b[i] = c } }
        let rc = withUnsafePointer(to: &addr) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { return "[cannot connect: \(String(cString: strerror(errno)))]" }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            // The daemon may answer (a refused header) and close before the rest is sent.
            if n <= 0 { break }
            off += n
        }
        var input: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while input.count < Frame.headerSize || input.count < Frame.headerSize + bodyLength(input) {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            input += buf[0..<n]
        }
        guard input.count >= Frame.headerSize else { return "[closed without a reply]" }
        let body = input[Frame.headerSize...]
        let line = String(decoding: body.prefix { $0 != 0x0A }, as: UTF8.self)
        return line.hasPrefix("SIGNAL: ") ? String(line.dropFirst(8)) : "[not a reply: \(line.prefix(60))]"
    }

    static func bodyLength(_ h: [UInt8]) -> Int {
        guard h.count >= 4 else { return 0 }
        return Int(h[0]) << 24 | Int(h[1]) << 16 | Int(h[2]) << 8 | Int(h[3])
    }
}
