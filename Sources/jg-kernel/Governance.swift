import CBPF
import Glibc
import JGIPC
import JGPolicy

/// The pinned maps, opened from their pins (shared by every object and by a restarted jg-kernel).
struct BPFMaps {
    let governed, dests, dirs, config, agents, stats, events: OwnedFD

    init?(pinRoot: String) {
        var fds: [OwnedFD] = []
        for name in ["jg_governed", "jg_dests", "jg_dirs", "jg_config", "jg_agents", "jg_stats", "jg_events"] {
            let fd = jg_bpf_obj_get(pinRoot + "/" + name)
            guard fd >= 0 else { fds.forEach { $0.close() }; return nil }
            fds.append(OwnedFD(adopting: fd))
        }
        (governed, dests, dirs, config, agents, stats, events) = (fds[0], fds[1], fds[2], fds[3], fds[4], fds[5], fds[6])
    }
}

/// Which cgroups are governed, as which agent, and each agent's rules in the maps.
///
/// Rules are written under generation g+1 while programs still read g; then jg_config flips to g+1 (one
/// aligned 4-byte store) and the g entries are deleted. A program sees the old rule set or the new one,
/// never a mix. Agents get stable slots recorded in jg_agents, so a restarted jg-kernel keeps them.
final class Governance {
    let maps: BPFMaps
    let paths: KernelPaths
    private(set) var policy: Policy?
    private(set) var slots: [String: UInt32] = [:]
    private(set) var generation: UInt32 = 0
    /// cgroup id → agent slot, mirrored from jg_governed.
    private(set) var governed: [UInt64: UInt32] = [:]

    init(maps: BPFMaps, paths: KernelPaths) {
        self.maps = maps
        self.paths = paths
        for slot in 0..<UInt32(JG_MAX_AGENTS) {
            var k = slot
            var v = jg_agent_name()
            if jg_bpf_map_lookup(maps.agents.raw, &k, &v) == 0 {
                let name = withUnsafeBytes(of: v.name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if !name.isEmpty { slots[name] = slot }
            }
        }
        var zero: UInt32 = 0
        var c = jg_config()
        if jg_bpf_map_lookup(maps.config.raw, &zero, &c) == 0 { generation = c.gen }
        var key: UInt64 = 0
        var have = false
        while true {
            var next: UInt64 = 0
            let r = have ? jg_bpf_map_next_key(maps.governed.raw, &key, &next) : jg_bpf_map_next_key(maps.governed.raw, nil, &next)
            guard r == 0 else { break }
            var slot: UInt32 = 0
            if jg_bpf_map_lookup(maps.governed.raw, &next, &slot) == 0 { governed[next] = slot }
            key = next; have = true
        }
    }

    func agentName(slot: UInt32) -> String { slots.first { $0.value == slot }?.key ?? "slot\(slot)" }

    // MARK: policy

    struct ApplyError: Error, CustomStringConvertible { var description: String }

    /// Write the policy's per-agent rules under a new generation and switch to it. Returns warnings
    /// (e.g. a denied directory that does not exist). Throws when the maps could not take the rules;
    /// then the previous rules stay in force.
    func apply(_ p: Policy) throws(ApplyError) -> [String] {
        var warnings: [String] = []
        for a in p.agents where slots[a.id] == nil {
            let used = Set(slots.values)
            guard let free = (0..<UInt32(JG_MAX_AGENTS)).first(where: { !used.contains($0) }) else {
                throw ApplyError(description: "more than \(JG_MAX_AGENTS) agents")
            }
            var v = jg_agent_name()
            let bytes = Array(a.id.utf8.prefix(Int(JG_AGENT_NAME) - 1))
            withUnsafeMutableBytes(of: &v.name) { b in for (i, x) in bytes.enumerated() { b[i] = x } }
            var k = free
            let r = jg_bpf_map_update(maps.agents.raw, &k, &v, 0)
            guard r == 0 else { throw ApplyError(description: "jg_agents update: \(KernelPaths.errnoText(-r))") }
            slots[a.id] = free
        }
        let gen = generation &+ 1
        var written: [(isDest: Bool, key: [UInt8])] = []
        func rollback() {
            for w in written { var k = w.key; _ = jg_bpf_map_delete(w.isDest ? maps.dests.raw : maps.dirs.raw, &k) }
        }
        for a in p.agents {
            let slot = slots[a.id]!
            for d in a.deniedDestinations {
                guard let c = CIDR(d) else { continue } // the loader already refused invalid entries
                let c6 = c.mappedIPv6 ?? c
                var k = jg_dest_key()
                k.prefixlen = UInt32(64 + c6.prefix)
                k.gen = gen
                k.slot = slot
                withUnsafeMutableBytes(of: &k.addr) { b in
                    for i in 0..<16 {
                        let bits = max(0, min(8, c6.prefix - i * 8))
                        let mask: UInt8 = bits == 8 ? 0xff : ~(0xff >> UInt8(bits))
                        b[i] = c6.address[i] & (bits == 0 ? 0 : mask)
                    }
                }
                var one: UInt8 = 1
                let r = jg_bpf_map_update(maps.dests.raw, &k, &one, 0)
                guard r == 0 else {
                    rollback()
                    throw ApplyError(description: "jg_dests update for \(a.id) \(d): \(KernelPaths.errnoText(-r)); previous rules stay")
                }
                written.append((true, withUnsafeBytes(of: &k) { Array($0) }))
            }
            for dir in a.deniedDirectories {
                var st = stat()
                guard stat(dir, &st) == 0 else {
                    warnings.append("agent \(a.id): denied directory \(dir): \(KernelPaths.errnoText(errno)) (not in the map)")
                    continue
                }
                guard (st.st_mode & S_IFMT) == S_IFDIR else {
                    warnings.append("agent \(a.id): denied directory \(dir) is not a directory (not in the map)")
                    continue
                }
                var k = jg_dir_key()
                k.gen = gen; k.slot = slot
                k.dev = jg_bpf_kernel_dev(UInt64(st.st_dev)); k.ino = UInt64(st.st_ino)
                var one: UInt8 = 1
                let r = jg_bpf_map_update(maps.dirs.raw, &k, &one, 0)
                guard r == 0 else {
                    rollback()
                    throw ApplyError(description: "jg_dirs update for \(a.id) \(dir): \(KernelPaths.errnoText(-r)); previous rules stay")
                }
                written.append((false, withUnsafeBytes(of: &k) { Array($0) }))
            }
        }
        var zero: UInt32 = 0
        var c = jg_config()
        c.gen = gen
        let r = jg_bpf_map_update(maps.config.raw, &zero, &c, 0)
        guard r == 0 else { rollback(); throw ApplyError(description: "jg_config update: \(KernelPaths.errnoText(-r))") }
        generation = gen
        deleteOtherGenerations()
        policy = p
        let removed = slots.keys.filter { p.agent($0) == nil }
        if !removed.isEmpty { warnings.append("agents no longer in the policy keep their governed cgroups with no rules: \(removed.sorted().joined(separator: ", "))") }
        return warnings
    }

    private func deleteOtherGenerations() {
        deleteKeys(maps.dests.raw, size: MemoryLayout<jg_dest_key>.size) { b in
            b.load(fromByteOffset: MemoryLayout<jg_dest_key>.offset(of: \jg_dest_key.gen)!, as: UInt32.self)
        }
        deleteKeys(maps.dirs.raw, size: MemoryLayout<jg_dir_key>.size) { b in
            b.load(fromByteOffset: MemoryLayout<jg_dir_key>.offset(of: \jg_dir_key.gen)!, as: UInt32.self)
        }
    }

    private func deleteKeys(_ fd: Int32, size: Int, gen: (UnsafeRawBufferPointer) -> UInt32) {
        var stale: [[UInt8]] = []
        var cur = [UInt8](repeating: 0, count: size)
        var next = [UInt8](repeating: 0, count: size)
        var first = true
        while true {
            let r = first ? jg_bpf_map_next_key(fd, nil, &next) : jg_bpf_map_next_key(fd, cur, &next)
            guard r == 0 else { break }
            if next.withUnsafeBytes(gen) != generation { stale.append(next) }
            cur = next; first = false
        }
        for var k in stale { _ = jg_bpf_map_delete(fd, &k) }
    }

    // MARK: governing

    struct Result { var ok: Bool; var cgroupID: UInt64; var message: String }

    /// The cgroup (v2) path a process is in, from /proc/<pid>/cgroup ("0::/path").
    static func cgroupOf(pid: Int32, mount: String) -> String? {
        guard let f = fopen("/proc/\(pid)/cgroup", "re") else { return nil }
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>?
        var cap = 0
        defer { free(line) }
        while getline(&line, &cap, f) > 0, let l = line {
            let s = String(cString: l).trimmingSuffixNewline()
            if s.hasPrefix("0::") { return mount + String(s.dropFirst(3)) }
        }
        return nil
    }

    /// Refuse anything that is not a cgroup at least two levels below <cgroup2>/jinnguard (runs/<name>,
    /// <instance>/agents/<agent>/…), or that holds (or is above) jg-kernel itself or its supervisor: the
    /// daemon never governs itself.
    func check(path: String) -> (UInt64, String?) {
        guard let cgBase = paths.cgroupBase else { return (0, "no cgroup v2 mount") }
        let base = cgBase
        let comps = path.split(separator: "/", omittingEmptySubsequences: false)
        guard path.hasPrefix("/"), !comps.contains(".."), !comps.contains("."), !path.hasSuffix("/"), !TextSearch.contains(path, "//") else {
            return (0, "cgroup path must be absolute and normalized: \(path)")
        }
        // Under systemd: also the broker's run cgroups in its delegated subtree (SystemdCgroups).
        if let sd = paths.systemd, path.hasPrefix(sd.brokerRuns + "/") {
            if let why = sd.checkBrokerRun(path) { return (0, why) }
        } else {
            guard path.hasPrefix(base + "/"), path.dropFirst(base.count + 1).contains("/") else {
                return (0, "cgroup path must be at least two levels below \(base)/ (e.g. \(base)/runs/<name>)")
            }
            guard path != paths.agentsDir else { return (0, "\(path) itself is not governed (only its agent subdirectories)") }
        }
        let mount = String(cgBase.dropLast("/jinnguard".count))
        for pid in [getpid(), getppid()] {
            if let mine = Self.cgroupOf(pid: pid, mount: mount), mine == path || mine.hasPrefix(path + "/") {
                return (0, "refused: \(path) contains jinnguard's own process \(pid) (the daemon never governs itself)")
            }
        }
        var st = stat()
        guard lstat(path, &st) == 0 else { return (0, "\(path): \(KernelPaths.errnoText(errno))") }
        guard (st.st_mode & S_IFMT) == S_IFDIR, KernelPaths.fsType(path) == KernelPaths.cgroup2Magic else {
            return (0, "\(path) is not a cgroup v2 directory")
        }
        // On cgroup v2 the directory's inode number is the cgroup id bpf_get_current_cgroup_id() returns.
        return (UInt64(st.st_ino), nil)
    }

    func govern(path: String, agent: String) -> Result {
        guard let p = policy else { return Result(ok: false, cgroupID: 0, message: "no policy loaded yet") }
        guard p.agent(agent) != nil, let slot = slots[agent] else {
            return Result(ok: false, cgroupID: 0, message: "unknown agent \(agent)")
        }
        let (id, problem) = check(path: path)
        if let problem { return Result(ok: false, cgroupID: id, message: problem) }
        var k = id
        var v = slot
        let r = jg_bpf_map_update(maps.governed.raw, &k, &v, 0)
        guard r == 0 else { return Result(ok: false, cgroupID: id, message: "jg_governed update: \(KernelPaths.errnoText(-r))") }
        governed[id] = slot
        return Result(ok: true, cgroupID: id, message: "governed \(path) (cgroup \(id)) as \(agent)")
    }

    func release(path: String) -> Result {
        let (id, problem) = check(path: path)
        if let problem { return Result(ok: false, cgroupID: id, message: problem) }
        var k = id
        let r = jg_bpf_map_delete(maps.governed.raw, &k)
        governed[id] = nil
        if r != 0 && r != -ENOENT { return Result(ok: false, cgroupID: id, message: "jg_governed delete: \(KernelPaths.errnoText(-r))") }
        return Result(ok: true, cgroupID: id, message: r == -ENOENT ? "\(path) was not governed" : "released \(path) (cgroup \(id))")
    }

    /// Create <instance>/agents/<agent_id> for every agent and govern it as that agent: whatever runs
    /// there or below is governed. (The test hook and the simplest broker integration: mkdir a child
    /// cgroup there and move the tool into it.)
    func governAgentDirectories() -> [String] {
        guard let agentsDir = paths.agentsDir, let p = policy else { return [] }
        var problems: [String] = []
        if mkdir(agentsDir, 0o755) != 0 && errno != EEXIST { return ["cannot create \(agentsDir): \(KernelPaths.errnoText(errno))"] }
        for a in p.agents {
            let dir = agentsDir + "/" + a.id
            if a.id.contains("/") || a.id.hasPrefix(".") { continue }
            if mkdir(dir, 0o755) != 0 && errno != EEXIST { problems.append("cannot create \(dir): \(KernelPaths.errnoText(errno))"); continue }
            // jg-broker (a member of our group, not root) makes each tool run's cgroup in here.
            _ = chmod(dir, 0o775)
            _ = chmod(dir + "/cgroup.procs", 0o664)
            let r = govern(path: dir, agent: a.id)
            if !r.ok { problems.append(r.message) }
        }
        return problems
    }

    /// Drop map entries for cgroups that no longer exist below our subtree (cgroup ids are never reused).
    func pruneVanished() {
        guard let base = paths.cgroupBase else { return }
        var live = Set<UInt64>()
        func walk(_ dir: String, depth: Int) {
            var st = stat()
            if stat(dir, &st) == 0 { live.insert(UInt64(st.st_ino)) }
            guard depth < Int(JG_MAX_LEVELS) else { return }
            for n in listDirectory(dir) { walk(dir + "/" + n, depth: depth + 1) }
        }
        walk(base, depth: 0)
        if let sd = paths.systemd { walk(sd.brokerRuns, depth: 0) }
        for id in governed.keys where !live.contains(id) {
            var k = id
            _ = jg_bpf_map_delete(maps.governed.raw, &k)
            governed[id] = nil
        }
    }

    func counter(_ index: UInt32) -> UInt64 {
        var v: UInt64 = 0
        return jg_bpf_percpu_sum(maps.stats.raw, index, &v) == 0 ? v : 0
    }
}

extension String {
    func trimmingSuffixNewline() -> String {
        var s = self
        while s.hasSuffix("\n") { s.removeLast() }
        return s
    }
}
