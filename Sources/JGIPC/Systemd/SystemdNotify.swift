import Glibc

/// sd_notify(3) without libsystemd: datagrams to $NOTIFY_SOCKET. The socket is opened and connected at
/// start-up, before any component confines itself (the prover's and the gate's seccomp filters refuse new
/// sockets later); afterwards each notification is one write on it.
public enum SystemdNotify {
    // These three are touched only from the process's event-loop thread (open, ready, watchdog timer).
    nonisolated(unsafe) private static var fd: Int32 = -1
    nonisolated(unsafe) private static var opened = false

    /// Connects to $NOTIFY_SOCKET once; a process not started by systemd has none and sends nothing.
    public static func open() {
        guard !opened else { return }
        opened = true
        guard let p = getenv("NOTIFY_SOCKET") else { return }
        var path = Array(String(cString: p).utf8)
        guard !path.isEmpty else { return }
        let abstract = path[0] == UInt8(ascii: "@")
        if abstract { path[0] = 0 }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        guard path.count < MemoryLayout.size(ofValue: addr.sun_path) else { return }
        withUnsafeMutableBytes(of: &addr.sun_path) { b in for (i, c) in path.enumerated() { b[i] = c } }
        let s = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { return }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (abstract ? 0 : 1))
        let r = withUnsafePointer(to: &addr) { a in a.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, len) } }
        // Above the numbers the control link and the handoff take (3–7), which dup2 would close under us.
        let high = r == 0 ? fcntl(s, F_DUPFD_CLOEXEC, 10) : -1
        Glibc.close(s)
        guard high >= 0 else { return }
        fd = high
        // Children (tool runs) must not be able to speak for this unit.
        unsetenv("NOTIFY_SOCKET")
    }

    public static var enabled: Bool { fd >= 0 }

    public static func send(_ text: String) {
        guard fd >= 0 else { return }
        let b = Array(text.utf8)
        _ = b.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }

    /// READY=1 goes out once per process: later reconfigurations (SIGHUP) only update STATUS=.
    nonisolated(unsafe) private static var readySent = false
    public static func ready(status: String) {
        send((readySent ? "" : "READY=1\n") + "STATUS=" + status)
        readySent = true
    }

    /// Half of WatchdogSec= (WATCHDOG_USEC), when the watchdog is meant for this process.
    public static func watchdogInterval() -> Double? {
        guard let u = getenv("WATCHDOG_USEC"), let usec = Double(String(cString: u)), usec > 0 else { return nil }
        if let p = getenv("WATCHDOG_PID"), let pid = Int32(String(cString: p)), pid != getpid() { return nil }
        return usec / 2_000_000
    }

    /// WATCHDOG=1 from the event loop itself: a loop that stops turning (SIGSTOP, a call that never
    /// returns) stops the pings, and systemd restarts the unit.
    public static func startWatchdog(_ loop: EventLoop) {
        guard enabled, let every = watchdogInterval() else { return }
        unsetenv("WATCHDOG_USEC"); unsetenv("WATCHDOG_PID")
        func tick() {
            send("WATCHDOG=1")
            loop.after(every) { tick() }
        }
        tick()
    }
}
