import CJGSys

public enum ResidentMemory {
    /// Gives the kernel back the free heap pages a one-off start-up step left behind (libbpf's BTF,
    /// policy compilation): glibc keeps freed memory resident unless asked, and these processes then
    /// idle for days.
    public static func releaseFreePages() { _ = jg_sys_release_free_memory() }
}
