import Glibc
import JGIPC

/// Passes a signal sent to `jinnguard agent run` on to the agent. The agent is pid 1 of its own pid
/// namespace, where the kernel drops a signal it has no handler for (init's protection), even one sent
/// from outside: so a caught signal is sent to it, an ignored one is dropped, and one left at its default
/// action is carried out on its behalf — the agent is killed (SIGKILL) and the runtime reports the signal.
enum SignalForwarding {
    /// Forwards `sig`; returns it when the agent was killed on its behalf.
    static func forward(_ sig: Int32, runtime: pid_t) -> Int32? {
        guard let agent = agentPID(runtime: runtime), let masks = dispositions(agent) else {
            // No agent yet (or no longer): the runtime's outer process, at its default action, ends with it.
            kill(runtime, sig)
            return nil
        }
        let bit: UInt64 = 1 << UInt64(sig - 1)
        if masks.caught & bit != 0 { kill(agent, sig); return nil }
        if masks.ignored & bit != 0 || defaultIgnores(sig) { return nil }
        kill(agent, SIGKILL)
        return sig
    }

    /// Signals whose default action is to do nothing.
    static func defaultIgnores(_ sig: Int32) -> Bool { sig == SIGWINCH || sig == SIGCHLD || sig == SIGURG || sig == SIGCONT }

    /// The agent: the only child of the runtime's outer process (which waits for it).
    static func agentPID(runtime: pid_t) -> pid_t? {
        guard let bytes = Files.read("/proc/\(runtime)/task/\(runtime)/children", limit: 4096) else { return nil }
        return String(decoding: bytes, as: UTF8.self).split(separator: " ").first.flatMap { pid_t($0.filter { $0 != "\n" }) }
    }

    /// SigCgt and SigIgn of /proc/PID/status.
    static func dispositions(_ pid: pid_t) -> (caught: UInt64, ignored: UInt64)? {
        guard let bytes = Files.read("/proc/\(pid)/status", limit: 1 << 16) else { return nil }
        var caught: UInt64?, ignored: UInt64?
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("SigCgt:") { caught = UInt64(line.dropFirst(7).filter { $0 != " " && $0 != "\t" }, radix: 16) }
            if line.hasPrefix("SigIgn:") { ignored = UInt64(line.dropFirst(7).filter { $0 != " " && $0 != "\t" }, radix: 16) }
        }
        guard let c = caught, let i = ignored else { return nil }
        return (c, i)
    }
}
