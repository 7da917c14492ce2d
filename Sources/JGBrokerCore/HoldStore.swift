import Glibc
import JGAudit
import JGCrypto
import JGIPC
import JGJSON
import JGPolicy

/// Human approval bound to the exact call (policy `require_approval`, docs/mcp.md). A decision that
/// needs approval becomes a hold: the agent, the SHA-256 of the call (`callDigest`), the policy digest,
/// an expiry, and the action itself. Only the same agent proposing the same call under the same policy
/// before the expiry finds it; once an operator approved it, the first such proposal consumes it and runs
/// the stored action; any other (a second retry, a replayed approval, one byte changed) finds nothing and
/// is held anew. Held in jg-broker (single-threaded: two racing retries are two turns of one loop) and
/// persisted on every change, so a hold survives a restart.
public struct HoldStore: Sendable {
    public enum State: String, Sendable { case pending, approved, rejected }

    public struct Hold: Sendable, Equatable {
        public var id: String
        public var agent: String
        public var callDigest: String
        public var policyDigest: String
        public var intent: String?
        public var action: ProposedAction?
        public var created: Double
        public var expires: Double
        public var state: State
        public var decidedBy: UInt32?
    }

    /// What a proposal that needs approval gets.
    public enum Outcome: Sendable, Equatable {
        /// Held (new or still waiting): DENY_HOLD_PENDING_REVIEW with this id.
        case pending(id: String, isNew: Bool)
        /// Approved: the stored call goes ahead, once.
        case approved(Hold)
        case rejected(id: String)
        case expired(id: String)
        /// No room for another hold (maxHolds): refused.
        case full
    }

    public static let maxHolds = 4096
    public private(set) var holds: [String: Hold] = [:]

    public init() {}

    /// The digest a hold binds to: the agent, the intent and the action (its audit digest: kind, command,
    /// path, contents, url, method) — for an MCP call the tool and its arguments' canonical JSON.
    public static func callDigest(agent: String, intent: String?, action: ProposedAction?) -> String {
        let v: JSONValue = .object([("agent", .string(agent)), ("intent", intent.map { .string($0) } ?? .null),
                                    ("action", action.map { .string($0.auditDigest) } ?? .null)])
        return Digest.sha256Hex(JSONWriter.write(v))
    }

    /// The proposal `digest` of `agent` under `policyDigest`, at `now` (wall-clock seconds).
    public mutating func propose(agent: String, intent: String?, action: ProposedAction?, policyDigest: String,
                                 holdSeconds: Double, now: Double) -> Outcome {
        let digest = Self.callDigest(agent: agent, intent: intent, action: action)
        let mine = holds.values.filter { $0.agent == agent && $0.callDigest == digest && $0.policyDigest == policyDigest }
            .sorted { $0.created < $1.created }
        for h in mine {
            switch h.state {
            case .approved where now <= h.expires:
                holds[h.id] = nil
                return .approved(h)
            case .rejected:
                holds[h.id] = nil
                return .rejected(id: h.id)
            case .pending where now <= h.expires:
                return .pending(id: h.id, isNew: false)
            default:
                holds[h.id] = nil
                return .expired(id: h.id)
            }
        }
        expire(now: now)
        guard holds.count < Self.maxHolds, let r = Digest.random(12) else { return .full }
        let id = "hold-" + Digest.hex(r)
        holds[id] = Hold(id: id, agent: agent, callDigest: digest, policyDigest: policyDigest, intent: intent, action: action,
                         created: now, expires: now + holdSeconds, state: .pending, decidedBy: nil)
        return .pending(id: id, isNew: true)
    }

    public enum Decision: Sendable, Equatable { case done(Hold), unknown, alreadyDecided(State), expired }

    /// An operator's approve or reject. Only a pending, unexpired hold can be decided, and only once.
    public mutating func decide(id: String, approve: Bool, by uid: UInt32, now: Double) -> Decision {
        guard var h = holds[id] else { return .unknown }
        guard h.state == .pending else { return .alreadyDecided(h.state) }
        guard now <= h.expires else { holds[id] = nil; return .expired }
        h.state = approve ? .approved : .rejected
        h.decidedBy = uid
        holds[id] = h
        return .done(h)
    }

    /// Holds past their expiry (and a day of grace, so that the agent still hears DENY_HOLD_EXPIRED) are forgotten.
    public mutating func expire(now: Double) {
        for (k, h) in holds where now > h.expires + 86_400 { holds[k] = nil }
    }

    // MARK: persistence

    public func encoded() -> [UInt8] {
        let list = holds.values.sorted { $0.created < $1.created }.map { h -> JSONValue in
            var a: JSONValue = .null
            if let x = h.action {
                a = .object([("kind", .string(x.kind)), ("command", x.command.map { .string($0) } ?? .null),
                             ("path", x.path.map { .string($0) } ?? .null), ("contents", x.contents.map { .string($0) } ?? .null),
                             ("url", x.url.map { .string($0) } ?? .null), ("method", x.method.map { .string($0) } ?? .null)])
            }
            return .object([("id", .string(h.id)), ("agent", .string(h.agent)), ("call_digest", .string(h.callDigest)),
                            ("policy_digest", .string(h.policyDigest)), ("intent", h.intent.map { .string($0) } ?? .null),
                            ("action", a), ("created", .number(h.created)), ("expires", .number(h.expires)),
                            ("state", .string(h.state.rawValue)),
                            ("decided_by", h.decidedBy.map { .integer(.unsigned(UInt64($0))) } ?? .null)])
        }
        return JSONWriter.bytes(.object([("holds", .array(list))]))
    }

    public struct Corrupt: Error, CustomStringConvertible { public var description: String }

    public static func decode(_ bytes: [UInt8]) throws(Corrupt) -> HoldStore {
        guard let v = try? JSONParser.parse(bytes), case let .array(list)? = v["holds"] else { throw Corrupt(description: "not a hold list") }
        var s = HoldStore()
        for item in list {
            guard let id = item["id"]?.stringValue, let agent = item["agent"]?.stringValue,
                  let digest = item["call_digest"]?.stringValue, let pd = item["policy_digest"]?.stringValue,
                  let created = item["created"]?.doubleValue, let expires = item["expires"]?.doubleValue,
                  let st = item["state"]?.stringValue.flatMap(State.init(rawValue:)) else {
                throw Corrupt(description: "bad hold entry")
            }
            var action: ProposedAction?
            if let a = item["action"], case .object = a {
                guard let kind = a["kind"]?.stringValue else { throw Corrupt(description: "hold \(id): action without kind") }
                action = ProposedAction(kind: kind, command: a["command"]?.stringValue, path: a["path"]?.stringValue,
                                        contents: a["contents"]?.stringValue, url: a["url"]?.stringValue, method: a["method"]?.stringValue)
            }
            var by: UInt32?
            if case let .integer(i)? = item["decided_by"], let u = i.uint64, u <= UInt64(UInt32.max) { by = UInt32(u) }
            s.holds[id] = Hold(id: id, agent: agent, callDigest: digest, policyDigest: pd, intent: item["intent"]?.stringValue,
                               action: action, created: created, expires: expires, state: st, decidedBy: by)
        }
        return s
    }

    /// Written to a temporary file, synced, renamed over `path`, and the directory synced: a crash
    /// leaves the old store or the new one, never half of one.
    public func save(to path: String) throws(SystemError) {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw SystemError("open \(tmp)") }
        let f = OwnedFD(adopting: fd)
        try f.writeAll(encoded())
        guard fsync(fd) == 0 else { throw SystemError("fsync \(tmp)") }
        f.close()
        guard rename(tmp, path) == 0 else { throw SystemError("rename \(tmp)") }
        if let slash = path.lastIndex(of: "/") {
            let dfd = open(String(path[..<slash]), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dfd >= 0 { _ = fsync(dfd); close(dfd) }
        }
    }

    public static func load(from path: String) throws(Corrupt) -> HoldStore {
        guard let bytes = Files.read(path, limit: 64 << 20) else {
            if errno == ENOENT { return HoldStore() }
            throw Corrupt(description: "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        return try decode(bytes)
    }
}
