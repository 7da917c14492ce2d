import CJGSys
import Glibc
import JGCrypto
import JGIPC
import JGJSON
import JGPolicy
import JGSandbox

/// Gives every agent of the policy a workspace of its own size (tool_limits.workspace_mb), apart from the
/// file system of the audit log: an ext4 image per agent under `<state>/workspace-images`, loop-mounted by
/// the supervisor (root) at `<state>/workspace/<agent>` and owned by the agent's tool uid. The broker has
/// no CAP_SYS_ADMIN, so this runs here, at start and on SIGHUP. An agent whose workspace cannot be
/// prepared is named with the reason; the broker then refuses its runs (DENY_SANDBOX_UNAVAILABLE).
final class WorkspacePreparer {
    struct Prepared: Equatable {
        var agent: String
        var uid: UInt32
        var path: String
        var megabytes: UInt64
    }

    let stateDir: String
    let range: ClosedRange<UInt32>
    private(set) var prepared: [String: Prepared] = [:]
    private(set) var errors: [String: String] = [:]
    /// Mount points this supervisor mounted (detached at shutdown).
    private var mounted: Set<String> = []

    var root: String { stateDir + "/workspace" }
    var imageDir: String { stateDir + "/workspace-images" }
    var accountsFile: String { stateDir + "/tool-uids" }

    init(stateDir: String, range: ClosedRange<UInt32>) {
        self.stateDir = stateDir
        self.range = range
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Prepares every agent of `policy`; those already prepared are left as they are.
    func prepare(_ policy: Policy) throws(Failure) {
        if mkdir(root, 0o755) != 0 && errno != EEXIST { throw Failure(description: "mkdir \(root): \(errnoText())") }
        if mkdir(imageDir, 0o700) != 0 && errno != EEXIST { throw Failure(description: "mkdir \(imageDir): \(errnoText())") }
        // The tools' uids search the workspace root (StateLayout gives it to jg-broker); the images are root's alone.
        _ = chmod(root, 0o755)
        _ = chown(imageDir, 0, 0); _ = chmod(imageDir, 0o700)
        var accounts: ToolAccounts
        do { accounts = try ToolAccounts(range: range, persisted: Files.readText(accountsFile) ?? "") } catch {
            throw Failure(description: "\(accountsFile): \(error)")
        }
        let taken = Self.accountUIDs()
        for a in policy.agents {
            let name = AgentDirectory.name(a.id)
            do {
                let uid = try accounts.uid(for: name, taken: taken)
                try persist(accounts)
                let p = try prepareOne(name: name, uid: uid, megabytes: a.toolLimits.workspaceMB)
                prepared[a.id] = Prepared(agent: a.id, uid: uid, path: p, megabytes: a.toolLimits.workspaceMB)
                errors[a.id] = nil
            } catch {
                prepared[a.id] = nil
                errors[a.id] = "\(error)"
                Log.error("workspace of \(a.id): \(error)")
            }
        }
    }

    private func persist(_ accounts: ToolAccounts) throws(Failure) {
        let tmp = accountsFile + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "create \(tmp): \(errnoText())") }
        let b = Array(accounts.persisted.utf8)
        let ok = writeFully(fd, b) && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, accountsFile) == 0 else { throw Failure(description: "write \(accountsFile): \(errnoText())") }
    }

    private func prepareOne(name: String, uid: UInt32, megabytes: UInt64) throws(Failure) -> String {
        let dir = root + "/" + name
        let image = imageDir + "/" + name + ".img"
        if mkdir(dir, 0o700) != 0 && errno != EEXIST { throw Failure(description: "mkdir \(dir): \(errnoText())") }
        if isMountPoint(dir) {
            // Left mounted by an earlier run of the daemon (one that was killed): ours now.
            mounted.insert(dir)
        } else {
            if access(image, F_OK) != 0 {
                let fd = open(image, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw Failure(description: "create \(image): \(errnoText())") }
                // Preallocated, not sparse: the space is the agent's from the start, so filling the workspace
                // can never take what the audit log's file system still has.
                let e = posix_fallocate(fd, 0, off_t(megabytes << 20))
                let sized = e == 0
                close(fd)
                guard sized else { unlink(image); throw Failure(description: "size \(image): \(String(cString: strerror(e)))") }
                // nodiscard: a discard would punch the preallocation back into holes.
                let mk = Self.runTool(["mkfs.ext4", "-q", "-F", "-m", "0", "-E", "nodiscard,lazy_itable_init=1,lazy_journal_init=1,root_owner=\(uid):\(uid)", image])
                guard mk == 0 else { unlink(image); throw Failure(description: "mkfs.ext4 \(image) failed (\(mk))") }
            }
            // mount(8) takes the first free loop device; another process on the host may take the same one
            // between its LOOP_CTL_GET_FREE and its LOOP_CONFIGURE, or the device it names may be gone from a
            // container's /dev: a fresh look for a free device (a new attempt) usually finds another.
            var m: Int32 = -1
            for attempt in 0..<Self.mountAttempts {
                if attempt > 0 { Log.warn("mount \(image) at \(dir) failed (\(m)); trying another loop device"); usleep(200_000) }
                m = Self.runTool(["mount", "-t", "ext4", "-o", "loop,nosuid,nodev,noatime", image, dir])
                if m == 0 && isMountPoint(dir) { break }
            }
            guard m == 0, isMountPoint(dir) else { throw Failure(description: "mount \(image) at \(dir) failed (\(m))") }
            mounted.insert(dir)
            rmdir(dir + "/lost+found")
        }
        guard chown(dir, uid, uid) == 0, chmod(dir, 0o700) == 0 else { throw Failure(description: "chown \(dir): \(errnoText())") }
        return dir
    }

    static let mountAttempts = 3

    func isMountPoint(_ dir: String) -> Bool {
        var a = stat(), b = stat()
        guard stat(dir, &a) == 0, stat(dir + "/..", &b) == 0 else { return false }
        return a.st_dev != b.st_dev
    }

    /// Lazily detached: a tool still running keeps its files until it ends; the loop device goes with the
    /// last reference.
    func unmountAll() {
        for dir in mounted where umount2(dir, Int32(MNT_DETACH)) != 0 {
            Log.warn("umount \(dir): \(errnoText())")
        }
        mounted.removeAll()
    }

    /// What the broker is told: per agent, its tool uid and workspace, or why it has none.
    var brokerSettings: [(String, JSONValue)] {
        let accounts = prepared.values.sorted { $0.agent < $1.agent }.map { p -> JSONValue in
            .object([("agent", .string(p.agent)), ("uid", .integer(.unsigned(UInt64(p.uid)))), ("workspace", .string(p.path))])
        }
        return [("tool_accounts", .array(accounts)),
                ("workspace_errors", .object(errors.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))]
    }

    /// The uids of the account database: the components' users among them, which a tool never gets.
    static func accountUIDs() -> Set<UInt32> {
        var out: Set<UInt32> = [0, 65534]
        for line in (Files.readText("/etc/passwd") ?? "").split(separator: "\n") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            if f.count > 2, let u = UInt32(f[2]) { out.insert(u) }
        }
        return out
    }

    /// Runs a system tool (searched in /usr/sbin, /sbin, /usr/bin, /bin) and waits for it: its exit status,
    /// or -1 when it could not be started.
    static func runTool(_ args: [String]) -> Int32 {
        guard let name = args.first,
              let path = ["/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"].map({ $0 + name }).first(where: { access($0, X_OK) == 0 }) else {
            return -1
        }
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let pid = jg_sys_spawn(path, &argv, nil, nil, 0)
        guard pid > 0 else { return -1 }
        var st: Int32 = 0
        while waitpid(pid, &st, 0) < 0 && errno == EINTR {}
        return (st & 0x7f) == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f)
    }

    private func errnoText() -> String { String(cString: strerror(errno)) }
}
