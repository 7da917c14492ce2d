import JGIPC

/// A locked agent (`jinnguard agent run`, DESIGN.md §2a): the agent program itself, confined by the one
/// sandbox builder so that its only way out is the Jinn Guard socket. This turns the command's options
/// into a SandboxSpec; the command only reads files, makes the cgroup and waits.
public enum LockedAgent {
    /// Where the agent finds the socket and its key, whatever their host paths (PROTOCOL.md §1).
    public static let socketInView = "/run/jinnguard/jinnguard.sock"
    public static let secretInView = "/run/jinnguard/secret"
    /// The prefix of a locked agent's cgroup below `<cgroup2>/jinnguard/<instance>/agents/<agent>/`: the
    /// gate names the agent of a peer in such a cgroup (RuntimeIdentity).
    public static let cgroupPrefix = "locked-"
    /// Names the environment of a locked agent always carries and --env may not replace.
    public static let reservedEnvironment = ["JINN_GUARD_SOCKET", "JINNGUARD_SOCKET", "JINN_GUARD_SECRET_FILE", "JINNGUARD_SECRET_FILE",
                                             "JINN_AGENT_ID", "JINN_GUARD_SECRET"]

    public struct Options: Sendable {
        public var agent: String
        /// The daemon's socket on the host.
        public var socket: String
        /// The agent's key (shown inside at secretInView only).
        public var secret: [UInt8]
        public var workspace: String
        public var workspaceAccess: String?
        public var readOnly: [String] = []
        public var environment: [String] = []
        /// CMD resolved to a path, and its arguments (argv[0] as given).
        public var executable: String
        public var arguments: [String]
        public var uid: UInt32
        public var gid: UInt32
        public var bestEffort = false
        /// Host paths that must not show inside even below a bound system directory (the daemon's state).
        public var hidden: [String] = []
        public var stdinFD: Int32? = 0
        public init(agent: String, socket: String, secret: [UInt8], workspace: String, executable: String, arguments: [String],
                    uid: UInt32, gid: UInt32) {
            self.agent = agent
            self.socket = socket
            self.secret = secret
            self.workspace = workspace
            self.executable = executable
            self.arguments = arguments
            self.uid = uid
            self.gid = gid
        }
    }

    public struct Error: Swift.Error, Sendable, CustomStringConvertible {
        public var description: String
        public init(_ d: String) { description = d }
    }

    /// An agent id that can name its cgroup and workspace directory (jg-kernel makes agents/<id> only for these).
    public static func validAgentID(_ id: String) -> Bool { AgentDirectory.isPlainName(id) && !id.hasPrefix(".") }

    static func validEnvName(_ n: Substring) -> Bool {
        guard let f = n.unicodeScalars.first, f == "_" || (f.isASCII && f.properties.isAlphabetic) else { return false }
        return n.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }

    /// The environment the SDKs read inside, then the caller's --env entries.
    public static func environment(_ o: Options) throws(Error) -> [String] {
        var env = ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + o.workspace, "TMPDIR=/tmp", "LANG=C.UTF-8",
                   "JINN_GUARD_SOCKET=" + socketInView, "JINN_GUARD_SECRET_FILE=" + secretInView, "JINN_AGENT_ID=" + o.agent]
        for e in o.environment {
            guard let eq = e.firstIndex(of: "="), validEnvName(e[..<eq]), !e.utf8.contains(0) else {
                throw Error("--env wants NAME=VALUE, got '\(e)'")
            }
            let name = String(e[..<eq])
            guard !reservedEnvironment.contains(name) else { throw Error("--env may not set \(name) (the runtime sets it)") }
            env.removeAll { $0.hasPrefix(name + "=") }
            env.append(e)
        }
        return env
    }

    public static func spec(_ o: Options, seccompFilter: [UInt8]) throws(Error) -> SandboxSpec {
        guard validAgentID(o.agent) else { throw Error("agent id '\(o.agent)' cannot name a locked runtime (letters, digits, _ - . only)") }
        guard o.uid != 0, o.gid != 0 else { throw Error("a locked agent never runs as root (give --uid)") }
        guard o.workspace.hasPrefix("/"), o.workspace != "/" else { throw Error("--workspace must be an absolute directory, got '\(o.workspace)'") }
        for p in o.readOnly where !p.hasPrefix("/") || p.split(separator: "/").contains("..") {
            throw Error("--read-only wants an absolute path without '..', got '\(p)'")
        }
        guard o.readOnly.count < 15 else { throw Error("at most 14 --read-only paths") }
        var spec = SandboxSpec(executable: o.executable, arguments: o.arguments, environment: try environment(o),
                               workspace: o.workspace, uid: o.uid, gid: o.gid)
        spec.workspaceAccess = o.workspaceAccess
        spec.layers = .locked
        spec.enforcement = o.bestEffort ? .bestEffort : .required
        spec.hiddenPaths = o.hidden
        spec.exposedPaths = [o.socket] + o.readOnly
        spec.exposedViews = [socketInView]
        spec.insideFile = SandboxSpec.InsideFile(path: secretInView, bytes: o.secret)
        spec.stdinFD = o.stdinFD
        spec.newSession = true
        spec.seccompFilter = seccompFilter
        // An agent is a long-lived program (an interpreter, an MCP server): no CPU limit, room for a runtime's
        // address space; processes and files bounded (a fork bomb stops at the process limit).
        spec.limits.cpuSeconds = 0
        spec.limits.addressSpaceBytes = 8 << 30
        spec.limits.fileSizeBytes = 1 << 30
        spec.limits.processes = 128
        spec.limits.openFiles = 1024
        return spec
    }
}
