import CBPF
import Glibc
import JGJSON

/// A loaded BPF object from bpf/ and its links (kept for the life of the process; the links are also
/// pinned, so they outlive it).
final class BPFObject {
    let raw: OpaquePointer
    init(_ raw: OpaquePointer) { self.raw = raw }
    deinit { jg_bpf_object_close(raw) }
}

/// Which BPF planes are active here. "Active" means the REAL object of that plane from bpf/ was loaded
/// (verified by this kernel) and every one of its programs is attached (its link pinned) — systemd's
/// bpf_restrict_fs_supported rule. Otherwise: the errno and the reason, and the plane is never reported active.
struct KernelPlanes {
    struct Entry {
        var name: String
        var object: String
        var active: Bool
        var errno: Int32
        var reason: String
        var programs: [String] = []
        /// Links taken over from a previous jg-kernel (pins that kept enforcing across its restart).
        var adopted = 0
    }

    var entries: [Entry]
    var objects: [BPFObject] = []

    /// Plane name, object file, whether its programs attach to the instance cgroup.
    static let layout: [(String, String)] = [
        ("cgroup_sock_addr", "jg_sock.bpf.o"),
        ("tracepoint", "jg_trace.bpf.o"),
        ("lsm", "jg_lsm.bpf.o"),
    ]

    static func inactiveAll(errno e: Int32, reason: String) -> KernelPlanes {
        KernelPlanes(entries: layout.map { Entry(name: $0.0, object: $0.1, active: false, errno: e, reason: reason) })
    }

    /// Load every object, attach every program, pin every link (adopting pins a previous jg-kernel left).
    static func load(bpfDir: String, paths: KernelPaths) -> KernelPlanes {
        guard KernelPaths.fsType(KernelPaths.bpffs) == KernelPaths.bpfFSMagic else {
            return inactiveAll(errno: ENOENT, reason: "bpffs is not mounted at \(KernelPaths.bpffs): nothing could be pinned")
        }
        for d in [paths.pinRoot, paths.linkDir] where mkdir(d, 0o700) != 0 && errno != EEXIST {
            let e = errno
            return inactiveAll(errno: e, reason: "cannot create \(d): \(KernelPaths.errnoText(e))")
        }
        var cgroupFD: Int32 = -1
        var cgroupProblem: (Int32, String)?
        // The cgroup programs attach to <cgroup2>/jinnguard (multi-attach links: one set per instance, each
        // acting only on the cgroups in its own jg_governed), so that the broker's run cgroups anywhere below
        // it can be governed. Nothing is ever attached above it.
        if let dir = paths.cgroupDir, let base = paths.cgroupBase {
            if mkdir(dir, 0o755) != 0 && errno != EEXIST {
                cgroupProblem = (errno, "cannot create \(dir): \(KernelPaths.errnoText(errno))")
            } else {
                cgroupFD = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                if cgroupFD < 0 { cgroupProblem = (errno, "cannot open \(base): \(KernelPaths.errnoText(errno))") }
            }
        } else {
            cgroupProblem = (ENOENT, "no cgroup v2 mount found")
        }
        defer { if cgroupFD >= 0 { close(cgroupFD) } }
        // Under systemd the broker's run cgroups are in its unit's subtree: the programs also attach to the
        // slice holding both units (SystemdCgroups). Failing that, the plane is not reported active.
        var sliceFD: Int32 = -1
        if cgroupProblem == nil, let sd = paths.systemd {
            for d in [paths.pinRoot + "/slice", paths.sliceLinkDir] where mkdir(d, 0o700) != 0 && errno != EEXIST {
                cgroupProblem = (errno, "cannot create \(d): \(KernelPaths.errnoText(errno))")
            }
            if cgroupProblem == nil {
                sliceFD = open(sd.slice, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                if sliceFD < 0 { cgroupProblem = (errno, "cannot open \(sd.slice): \(KernelPaths.errnoText(errno))") }
            }
        }
        defer { if sliceFD >= 0 { close(sliceFD) } }

        var out = KernelPlanes(entries: [])
        for (plane, file) in layout {
            var entry = Entry(name: plane, object: file, active: false, errno: 0, reason: "")
            let path = bpfDir + "/" + file
            if plane == "cgroup_sock_addr", let (e, why) = cgroupProblem {
                entry.errno = e; entry.reason = why
                out.entries.append(entry); continue
            }
            guard access(path, R_OK) == 0 else {
                entry.errno = errno
                entry.reason = "object \(path) missing (build with `make bpf`): \(KernelPaths.errnoText(errno))"
                out.entries.append(entry); continue
            }
            var err: Int32 = 0
            guard let raw = jg_bpf_object_load(path, paths.pinRoot, &err) else {
                entry.errno = -err
                entry.reason = loadReason(plane: plane, errno: -err)
                out.entries.append(entry); continue
            }
            let obj = BPFObject(raw)
            var newlyPinned: [String] = []
            var failed = false
            for i in 0..<jg_bpf_object_program_count(raw) {
                let name = String(cString: jg_bpf_program_name(raw, i))
                let pin = paths.linkDir + "/" + name
                var adopted: Int32 = 0
                let r = jg_bpf_program_attach(raw, i, cgroupFD, pin, &adopted)
                if r != 0 {
                    entry.errno = -r
                    entry.reason = "attach \(name): \(KernelPaths.errnoText(-r))" + libbpfSuffix()
                    failed = true
                    break
                }
                entry.programs.append(name)
                if adopted != 0 { entry.adopted += 1 } else { newlyPinned.append(pin) }
                if plane == "cgroup_sock_addr", sliceFD >= 0 {
                    let slicePin = paths.sliceLinkDir + "/" + name
                    var sliceAdopted: Int32 = 0
                    let r2 = jg_bpf_program_attach(raw, i, sliceFD, slicePin, &sliceAdopted)
                    if r2 != 0 {
                        entry.errno = -r2
                        entry.reason = "attach \(name) to \(paths.systemd?.slice ?? "the slice"): \(KernelPaths.errnoText(-r2))" + libbpfSuffix()
                        failed = true
                        break
                    }
                    if sliceAdopted != 0 { entry.adopted += 1 } else { newlyPinned.append(slicePin) }
                }
            }
            if failed {
                // Roll back what this attempt attached; links adopted from before stay as they were.
                for pin in newlyPinned { _ = jg_bpf_link_detach_pinned(pin); unlink(pin) }
                entry.programs = []
                out.entries.append(entry); continue
            }
            entry.active = true
            entry.reason = "loaded and attached: " + entry.programs.joined(separator: ", ")
                + (entry.adopted > 0 ? " (\(entry.adopted) link(s) adopted from pins of a previous jg-kernel)" : "")
            out.objects.append(obj)
            out.entries.append(entry)
        }
        return out
    }

    static func libbpfSuffix() -> String {
        let m = String(cString: jg_bpf_last_message())
        return m.isEmpty ? "" : " (libbpf: \(m))"
    }

    static func loadReason(plane: String, errno e: Int32) -> String {
        var why = "load: \(KernelPaths.errnoText(e))"
        if plane == "lsm" && e == EPERM {
            why = "the kernel refuses to load BPF-LSM programs here (EPERM: lockdown or no BPF-LSM attach path)"
        }
        return why + libbpfSuffix()
    }

    func isActive(_ plane: String) -> Bool { entries.first { $0.name == plane }?.active ?? false }

    var json: String {
        JSONWriter.write(.object(entries.map { e in
            (e.name, .object([
                ("active", .bool(e.active)),
                ("errno", .integer(.signed(Int64(e.errno)))),
                ("reason", .string(e.reason)),
                ("object", .string(e.object)),
                ("programs", .array(e.programs.map { .string($0) })),
                ("adopted_links", .integer(.signed(Int64(e.adopted)))),
            ]))
        }))
    }
}
