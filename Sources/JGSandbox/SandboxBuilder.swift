import CJGSys
import Glibc
import JGIPC

/// A layer or step that could not be applied: the start failed (required), nothing ran.
public struct SandboxError: Error, Sendable, CustomStringConvertible {
    /// The layer's audit name, or the step's ("identity", "exec", …).
    public var layer: String
    public var errno: Int32
    /// Layers already in place when it failed, and those that failed before it and were skipped.
    public var achieved: SandboxLayers = []
    public var missing: SandboxLayers = []
    public init(layer: String, errno: Int32, achieved: SandboxLayers = [], missing: SandboxLayers = []) {
        self.layer = layer
        self.errno = errno
        self.achieved = achieved
        self.missing = missing
    }
    public var description: String { "sandbox layer \(layer): \(String(cString: strerror(errno)))" }
}

/// A started confined process.
public struct SandboxLaunch: Sendable {
    /// The run's outer process: it exits with the program's status (a signal is passed on).
    public var pid: pid_t
    public var achieved: SandboxLayers
    /// Requested layers that could not be applied and were skipped (best effort only).
    public var missing: SandboxLayers
    /// Why the first skipped layer failed.
    public var missingReason: String?
}

/// Builds confined processes from a SandboxSpec through the C shim (jg_tool.c), which runs between fork
/// and exec with no Swift runtime involved.
public enum SandboxBuilder {
    static let stepNames: [Int32: String] = [
        Int32(JG_TOOL_STEP_STDIO): "stdio", Int32(JG_TOOL_STEP_RLIMIT): "rlimits", Int32(JG_TOOL_STEP_CHDIR): "workspace",
        Int32(JG_TOOL_STEP_IDENTITY): "identity", Int32(JG_TOOL_STEP_FORK): "fork", Int32(JG_TOOL_STEP_CAPS): "capabilities",
        Int32(JG_TOOL_STEP_NNP): "no_new_privs", Int32(JG_TOOL_STEP_FDS): "descriptors", Int32(JG_TOOL_STEP_EXEC): "exec",
    ]

    /// Starts `spec` with stdout/stderr on the given descriptors and the process placed in the cgroup whose
    /// cgroup.procs is `cgroupProcs` (nil: the cgroup layer is missing).
    /// `cgroupDirectory`, when given, is that cgroup's directory: the process starts in it (clone3
    /// CLONE_INTO_CGROUP) instead of migrating there, which waits for an RCU grace period (~20 ms here).
    public static func spawn(_ spec: SandboxSpec, stdout: borrowing OwnedFD, stderr: borrowing OwnedFD,
                             cgroupProcs: Int32?, cgroupDirectory: Int32? = nil) throws(SandboxError) -> SandboxLaunch {
        if spec.uid == 0 || spec.gid == 0 { throw SandboxError(layer: "identity", errno: EPERM) }
        let cstrings = { (a: [String]) -> [UnsafeMutablePointer<CChar>?] in a.map { strdup($0) } + [nil] }
        let argv = cstrings(spec.arguments)
        let envp = cstrings(spec.environment)
        let system = cstrings(spec.systemPaths), hidden = cstrings(spec.hiddenPaths), devices = cstrings(spec.devices)
        let exposed = cstrings(spec.exposedPaths)
        let views = cstrings(spec.exposedPaths.indices.map { $0 < spec.exposedViews.count ? spec.exposedViews[$0] : "" })
        defer { for list in [argv, envp, system, hidden, devices, exposed, views] { list.forEach { free($0) } } }
        guard spec.exposedViews.count <= spec.exposedPaths.count else { throw SandboxError(layer: "view", errno: EINVAL) }
        let insidePath = spec.insideFile.map { strdup($0.path) } ?? nil
        defer { free(insidePath) }
        let insideBytes = spec.insideFile?.bytes ?? []
        var outcome = jg_tool_outcome()
        let filter = spec.seccompFilter
        let outFD = stdout.raw, errFD = stderr.raw
        let access = spec.workspaceAccess.map { strdup($0) } ?? nil
        defer { free(access) }
        let pid: Int32 = spec.workspace.withCString { ws in
            spec.executable.withCString { path in
                filter.withUnsafeBytes { f in
                  insideBytes.withUnsafeBytes { inside in
                  views.map { UnsafePointer($0) }.withUnsafeBufferPointer { vp in
                    withPointers(argv, envp, system, hidden, devices, exposed) { av, ev, sp, hp, dp, xp in
                        var s = jg_tool_spec()
                        s.path = path
                        s.argv = av
                        s.envp = ev
                        s.workspace = ws
                        s.workspace_access = UnsafePointer(access)
                        s.uid = spec.uid
                        s.gid = spec.gid
                        s.out_fd = outFD
                        s.err_fd = errFD
                        s.cgroup_procs_fd = cgroupProcs ?? -1
                        s.cgroup_dir_fd = cgroupDirectory ?? -1
                        s.rlimit_cpu_seconds = spec.limits.cpuSeconds
                        s.rlimit_as_bytes = spec.limits.addressSpaceBytes
                        s.rlimit_fsize_bytes = spec.limits.fileSizeBytes
                        s.rlimit_nproc = spec.limits.processes
                        s.rlimit_nofile = spec.limits.openFiles
                        s.seccomp_filter = f.baseAddress
                        s.seccomp_len = UInt16(clamping: filter.count / 8)
                        s.system_paths = sp
                        s.hidden_paths = hp
                        s.devices = dp
                        s.exposed_paths = xp
                        s.exposed_views = vp.baseAddress
                        s.inside_path = UnsafePointer(insidePath)
                        s.inside_data = inside.baseAddress
                        s.inside_len = inside.count
                        s.in_fd = spec.stdinFD ?? -1
                        s.new_session = spec.newSession ? 1 : 0
                        s.tmp_mb = spec.tmpMB
                        s.layers = spec.layers.rawValue
                        s.required = spec.requiredLayers.rawValue
                        return jg_tool_spawn(&s, &outcome)
                    }
                  }
                  }
                }
            }
        }
        let achieved = SandboxLayers(rawValue: outcome.achieved)
        let missing = SandboxLayers(rawValue: outcome.skipped)
        guard pid > 0 else {
            let layer = outcome.failed_layer != 0 ? SandboxLayers(rawValue: UInt32(outcome.failed_layer)).names.joined(separator: ",")
                : stepNames[outcome.failed_step] ?? "fork"
            let failedBit = SandboxLayers(rawValue: UInt32(max(0, outcome.failed_layer)))
            throw SandboxError(layer: layer, errno: outcome.failed_errno != 0 ? outcome.failed_errno : errno,
                               achieved: achieved, missing: missing.union(failedBit))
        }
        let reason = missing.isEmpty ? nil
            : "\(missing.names.joined(separator: ",")): \(String(cString: strerror(outcome.skipped_errno)))"
        return SandboxLaunch(pid: pid, achieved: achieved, missing: spec.layers.intersection(missing), missingReason: reason)
    }

    private static func withPointers<R>(_ a: [UnsafeMutablePointer<CChar>?], _ b: [UnsafeMutablePointer<CChar>?],
                                        _ c: [UnsafeMutablePointer<CChar>?], _ d: [UnsafeMutablePointer<CChar>?],
                                        _ e: [UnsafeMutablePointer<CChar>?], _ f: [UnsafeMutablePointer<CChar>?],
                                        _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>?, UnsafePointer<UnsafeMutablePointer<CChar>?>?,
                                                 UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?,
                                                 UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
        let cc = c.map { UnsafePointer($0) }, dd = d.map { UnsafePointer($0) }, ee = e.map { UnsafePointer($0) }
        let ff = f.map { UnsafePointer($0) }
        return a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                cc.withUnsafeBufferPointer { pc in
                    dd.withUnsafeBufferPointer { pd in
                        ee.withUnsafeBufferPointer { pe in
                            ff.withUnsafeBufferPointer { pf in
                                body(pa.baseAddress, pb.baseAddress, pc.baseAddress, pd.baseAddress, pe.baseAddress, pf.baseAddress)
                            }
                        }
                    }
                }
            }
        }
    }
}
