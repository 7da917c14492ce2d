import CJGSys
import Glibc
import JGIPC

/// A child process watched from the event loop: its exit through a pidfd (or a short poll of waitpid
/// where the kernel has none), its output pipes non-blocking, and a kill at a deadline. Nothing here
/// blocks, so the broker keeps deciding for every other agent while tools run.
public final class ChildWatch {
    public struct Exit {
        /// waitpid status; nil only if the child could not be reaped (then it is reported killed).
        public var status: Int32?
        /// Why it was killed, if it was.
        public var killed: String?
        public var captures: [OutputCapture]
    }

    let loop: EventLoop
    public let pid: Int32
    var pipes: [OwnedFD]
    var captures: [OutputCapture]
    var pidfd: OwnedFD?
    var status: Int32?
    var killed: String?
    var timer: Int?
    var pollTimer: Int?
    var done = false
    let kill: () -> Void
    var onExit: ((Exit) -> Void)?

    /// `pipes` are read ends (owned from now on), captured up to `caps`; `kill` ends the child and
    /// whatever it started; it is called at `killAt` (CLOCK_MONOTONIC) with `killReason` recorded.
    public init(loop: EventLoop, pid: Int32, pipes: [OwnedFD], caps: [Int], killAt: Double, killReason: String,
                kill: @escaping () -> Void, onExit: @escaping (Exit) -> Void) {
        self.loop = loop
        self.pid = pid
        self.pipes = pipes
        self.captures = caps.map { OutputCapture(cap: $0) }
        self.kill = kill
        self.onExit = onExit
        for (i, p) in pipes.enumerated() {
            try? p.setNonBlocking()
            loop.register(p.raw, events: Int16(POLLIN)) { [unowned self] _ in self.drain(i, maxReads: 16) }
        }
        let fd = jg_sys_pidfd_open(pid)
        if fd >= 0 {
            let owned = OwnedFD(adopting: fd)
            pidfd = owned
            loop.register(owned.raw, events: Int16(POLLIN)) { [unowned self] _ in self.reap() }
        } else {
            schedulePoll()
        }
        timer = loop.after(max(0, killAt - Monotonic.now)) { [weak self] in
            guard let self, !self.done else { return }
            self.timer = nil
            self.killed = killReason
            self.kill()
        }
    }

    /// Kills the child now (the broker is stopping); its exit is still reported.
    public func terminate() {
        guard !done else { return }
        killed = killed ?? "killed: the broker stopped"
        kill()
    }

    func schedulePoll() {
        pollTimer = loop.after(0.02) { [weak self] in
            guard let self, !self.done else { return }
            self.pollTimer = nil
            self.reap()
            if !self.done { self.schedulePoll() }
        }
    }

    /// Reads what is there (at most `maxReads` chunks, so one chatty tool cannot hog an iteration).
    func drain(_ i: Int, maxReads: Int) {
        guard pipes[i].isOpen else { return }
        var buf = [UInt8](repeating: 0, count: 65536)
        for _ in 0..<maxReads {
            let n = buf.withUnsafeMutableBytes { read(pipes[i].raw, $0.baseAddress, $0.count) }
            if n > 0 {
                buf.withUnsafeBufferPointer { captures[i].take(UnsafeBufferPointer(rebasing: $0[0..<n])) }
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN { return }
            // EOF or an error: this stream is complete.
            loop.unregister(pipes[i].raw)
            pipes[i].close()
            return
        }
    }

    func reap() {
        guard !done else { return }
        var st: Int32 = 0
        let r = jg_sys_reap(pid, &st)
        if r == 0 { return }
        status = r > 0 ? st : nil
        // The child is gone: what it wrote is in the pipes now. Anything it left behind that still holds
        // a pipe open is not waited for (the caller kills the run's cgroup).
        for i in pipes.indices { drain(i, maxReads: 64) }
        finish()
    }

    func finish() {
        done = true
        if let t = timer { loop.cancelTimer(t) }
        if let t = pollTimer { loop.cancelTimer(t) }
        timer = nil
        pollTimer = nil
        if let p = pidfd { loop.unregister(p.raw); p.close() }
        for p in pipes where p.isOpen { loop.unregister(p.raw); p.close() }
        let exit = Exit(status: status, killed: killed ?? (status == nil ? "the run could not be reaped" : nil), captures: captures)
        let cb = onExit
        onExit = nil
        cb?(exit)
    }

    /// Exit code as the result reports it: the status, or minus the signal that ended it.
    public static func exitCode(_ status: Int32) -> Int64 {
        (status & 0x7f) == 0 ? Int64((status >> 8) & 0xff) : -Int64(status & 0x7f)
    }
}
