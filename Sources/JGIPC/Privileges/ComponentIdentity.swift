import Glibc

/// The uid/gid a component runs as (DESIGN.md §1: each its own, never root, `nobody`, an agent's or a
/// tool run's). The supervisor resolves them (system users jg-gate, jg-prover, jg-broker, jg-kernel) and
/// passes them as `--run-as=UID:GID[:GROUP,GROUP…]`; a component started without one refuses to run.
public struct ComponentIdentity: Equatable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
    /// Supplementary groups (jg-broker is in jg-kernel's group to create run cgroups below the agent
    /// cgroups jg-kernel makes); empty for the others.
    public var groups: [UInt32]

    public init(uid: UInt32, gid: UInt32, groups: [UInt32] = []) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }

    public static let flag = "--run-as="

    public var argument: String {
        Self.flag + "\(uid):\(gid)" + (groups.isEmpty ? "" : ":" + groups.map(String.init).joined(separator: ","))
    }

    /// Parses one `--run-as=` value; nil for anything malformed or for uid/gid 0.
    public static func parse(_ arg: String) -> ComponentIdentity? {
        guard arg.hasPrefix(flag) else { return nil }
        let parts = arg.dropFirst(flag.count).split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3, let u = UInt32(parts[0]), let g = UInt32(parts[1]), u != 0, g != 0 else {
            return nil
        }
        var groups: [UInt32] = []
        if parts.count == 3 {
            for s in parts[2].split(separator: ",", omittingEmptySubsequences: false) {
                guard let v = UInt32(s), v != 0 else { return nil }
                groups.append(v)
            }
        }
        return ComponentIdentity(uid: u, gid: g, groups: groups)
    }

    /// The identity on this process's command line, or the reason there is none.
    public static func fromCommandLine(_ args: [String] = CommandLine.arguments) -> Result<ComponentIdentity, SystemError> {
        let given = args.filter { $0.hasPrefix(flag) }
        guard given.count == 1 else { return .failure(SystemError("exactly one \(flag)UID:GID is required", errno: EINVAL)) }
        guard let id = parse(given[0]) else { return .failure(SystemError("bad \(given[0])", errno: EINVAL)) }
        return .success(id)
    }

    /// The command line without the identity flag (what the component's own argument handling sees).
    public static func strip(_ args: [String]) -> [String] { args.filter { !$0.hasPrefix(flag) } }
}

extension ComponentIdentity {
    /// Why a set of component identities is unfit (DESIGN.md §1), or nil: each component needs a uid and
    /// gid of its own — not root's, not nobody's, not another component's, and not one a policy admits as
    /// an agent's peer uid.
    public static func problem(with ids: [Component: ComponentIdentity], agentUIDs: [UInt32] = []) -> String? {
        for c in Component.allCases {
            guard let id = ids[c] else { return "no user for \(c.rawValue)" }
            if id.uid == 0 || id.gid == 0 || id.uid == nobodyID || id.gid == nobodyID {
                return "user \(c.rawValue) has uid \(id.uid) gid \(id.gid): a component needs ids of its own, not root's or nobody's"
            }
            if agentUIDs.contains(id.uid) { return "the policy allows peer uid \(id.uid), which is \(c.rawValue)'s own user" }
        }
        if Set(ids.values.map(\.uid)).count != ids.count || Set(ids.values.map(\.gid)).count != ids.count {
            let list = ids.map { "\($0.key.rawValue)=\($0.value.uid):\($0.value.gid)" }.sorted().joined(separator: " ")
            return "the component users must have distinct uids and gids: \(list)"
        }
        return nil
    }

    static let nobodyID: UInt32 = 65534
}
