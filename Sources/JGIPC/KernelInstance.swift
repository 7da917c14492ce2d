/// One daemon = one kernel-plane instance, named after its state directory, so two daemons on one host
/// never share BPF maps or cgroups. jg-kernel governs `<cgroup2>/jinnguard/<instance>/agents/<agent id>`
/// and everything below it; the broker puts each tool run there.
public enum KernelInstance {
    /// A stable short name for a state directory (FNV-1a, 48 bits).
    public static func name(stateDir: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in stateDir.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let hex = String(h & 0xffff_ffff_ffff, radix: 16)
        return "s" + String(repeating: "0", count: 12 - hex.count) + hex
    }
}
