/// What a confined process may see and do (DESIGN.md §2a): one value for tool runs, locked agents and MCP
/// upstream servers alike. The builder applies it; nothing here touches the system.
public struct SandboxSpec: Sendable {
    public var executable: String
    public var arguments: [String]
    public var environment: [String]
    /// The only writable directory besides the private /tmp, at the same path inside the view; the start
    /// directory. Entered with the caller's identity, so the directories above it may stay the daemon's.
    public var workspace: String
    /// How the caller reaches the workspace on the host when its name does not (a descriptor path,
    /// /proc/self/fd/N/..., with the same last component); nil: by `workspace`.
    public var workspaceAccess: String?
    public var uid: UInt32
    public var gid: UInt32
    /// Host directories bound read-only into the view (a missing one is skipped, a symlink recreated).
    public var systemPaths = SandboxSpec.defaultSystemPaths
    /// Paths covered by an empty read-only mount wherever they would show in the view (the daemon's state,
    /// socket, policy and audit log), on top of the builder's own list of secrets under /etc.
    public var hiddenPaths: [String] = []
    /// Host paths bound read-only at the same path, last of all: what a locked agent or an MCP upstream
    /// server may reach besides its workspace (the Jinn Guard socket). Must exist; never below a hidden path.
    public var exposedPaths: [String] = []
    /// Where each exposed path shows in the view, entry by entry ("" or missing: the same path): a locked
    /// agent sees the daemon's socket at /run/jinnguard/jinnguard.sock wherever it lives on the host.
    public var exposedViews: [String] = []
    /// A file created inside the view only (0400, the process's own), on its private /run or /tmp: the
    /// locked agent's copy of its key, which exists nowhere else.
    public var insideFile: InsideFile?
    /// stdin: a descriptor the caller keeps owning, or nil for /dev/null. A locked agent (and an MCP
    /// upstream server behind it) talks over its caller's stdin/stdout.
    public var stdinFD: Int32?
    /// A session of its own (setsid): no controlling terminal to inject input into. Tool runs get a process
    /// group instead, which the broker kills as a whole.
    public var newSession = false

    public struct InsideFile: Sendable {
        public var path: String
        public var bytes: [UInt8]
        public init(path: String, bytes: [UInt8]) {
            self.path = path
            self.bytes = bytes
        }
    }
    /// Device names bound into the view's /dev.
    public var devices = ["null", "zero", "full", "random", "urandom"]
    public var tmpMB: UInt32 = 64
    public var layers: SandboxLayers = .all
    public var enforcement: SandboxEnforcement = .required
    public var limits = Limits()
    /// Classic BPF instructions (8 bytes each), installed last before exec.
    public var seccompFilter: [UInt8] = []

    public struct Limits: Sendable {
        public var cpuSeconds: UInt64 = 10
        public var addressSpaceBytes: UInt64 = 512 << 20
        public var fileSizeBytes: UInt64 = 16 << 20
        public var processes: UInt64 = 64
        public var openFiles: UInt64 = 256
        public init() {}
    }

    public static let defaultSystemPaths = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"]

    public init(executable: String, arguments: [String], environment: [String], workspace: String, uid: UInt32, gid: UInt32) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workspace = workspace
        self.uid = uid
        self.gid = gid
    }

    /// The layers whose failure fails the start.
    public var requiredLayers: SandboxLayers { enforcement == .required ? layers : [] }
}
