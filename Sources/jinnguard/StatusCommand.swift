import ArgumentParser
import Glibc
import JGIPC
import JGJSON

/// `jinnguard status`: what the running daemon last reported (rewritten by the supervisor on every change).
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the running daemon's components, kernel planes and health.",
        discussion: "Exit codes: 0 healthy, 1 running but unhealthy, 2 not running (or no status).")
    @Option(help: "The daemon's state directory (default: ./jinnguard-state, else the installed /var/lib/jinnguard).") var stateDir = InstalledLayout.defaultStateDir()
    @Flag(help: "Print the raw status JSON.") var json = false

    func run() throws {
        let path = stateDir + "/status.json"
        guard let text = Files.readText(path, limit: 1 << 20), let v = try? JSONParser.parse(text) else {
            print("jinnguard: not running (no \(path))")
            throw ExitCode(2)
        }
        if case let .integer(p)? = v["supervisor_pid"], let pid = p.uint64, kill(pid_t(pid), 0) != 0 {
            print("jinnguard: not running (supervisor pid \(pid) is gone; \(path) is stale)")
            throw ExitCode(2)
        }
        if json { print(JSONWriter.write(v)); return }
        let healthy = v["healthy"] == .bool(true)
        let degraded = v["degraded"].flatMap { d -> [String]? in if case let .array(a) = d { return a.compactMap(\.stringValue) } else { return nil } } ?? []
        print("jinnguard: \(healthy ? (degraded.isEmpty ? "healthy" : "healthy but degraded") : "UNHEALTHY: " + (v["reason"]?.stringValue ?? "?"))")
        for d in degraded { print("  degraded: \(d)") }
        print("  socket \(v["socket"]?.stringValue ?? "?"), audit log \(v["audit_log"]?.stringValue ?? "?")")
        if case let .object(comps)? = v["components"] {
            for (name, c) in comps {
                let pid = c["pid"].map { JSONWriter.write($0) } ?? "?"
                let restarts = c["restarts"].map { JSONWriter.write($0) } ?? "0"
                let silent = c["responsive"] == .bool(false) && c["configured"] == .bool(true)
                print("  \(name): pid \(pid), restarts \(restarts)\(silent ? ", NOT ANSWERING liveness pings" : "")")
            }
        }
        if case let .object(planes)? = v["kernel_planes"] {
            print("  kernel planes:")
            for (name, p) in planes {
                let active = p["active"] == .bool(true)
                let reason = p["reason"]?.stringValue ?? ""
                let err = p["errno"].map { JSONWriter.write($0) } ?? "?"
                print("    \(name): \(active ? "active" : "inactive (errno \(err): \(reason))")")
            }
        }
        if case let .array(w)? = v["policy_warnings"], !w.isEmpty {
            print("  policy warnings:")
            for x in w { print("    \(x.stringValue ?? "")") }
        }
        if !healthy { throw ExitCode(1) }
    }
}
