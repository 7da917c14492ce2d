import JGBrokerCore
import JGJSON

/// What the supervisor prepared for the tool runs (WorkspacePreparer): each agent's tool uid and
/// workspace, the agents whose workspace could not be prepared and why, and the paths no tool may see.
struct ToolSettings {
    var accounts: [String: ToolAccount] = [:]
    var unavailable: [String: String] = [:]
    var hiddenPaths: [String] = []

    init() {}

    /// From the broker's settings JSON; anything malformed is left out (its agent is then refused).
    init(_ settings: String) {
        guard let s = try? JSONParser.parse(settings) else { return }
        if case let .array(list)? = s["tool_accounts"] {
            for a in list {
                guard let id = a["agent"]?.stringValue, let ws = a["workspace"]?.stringValue, ws.hasPrefix("/"),
                      case let .integer(n)? = a["uid"], let u = n.uint64, u > 0, u < UInt64(UInt32.max) else { continue }
                accounts[id] = ToolAccount(uid: UInt32(u), workspace: ws)
            }
        }
        if case let .object(errs)? = s["workspace_errors"] {
            for (k, v) in errs { unavailable[k] = v.stringValue ?? "unavailable" }
        }
        if case let .array(h)? = s["hidden_paths"] { hiddenPaths = h.compactMap(\.stringValue).filter { $0.hasPrefix("/") } }
    }
}

extension ToolRunner {
    mutating func apply(_ t: ToolSettings) {
        accounts = t.accounts
        unavailable = t.unavailable
        hiddenPaths = t.hiddenPaths
    }
}

extension BrokerServer {
    /// A best_effort run without some layers makes the broker degraded until that agent runs with all of them.
    func noteSandbox(_ agent: String, _ r: ToolRunner.Result) {
        let before = degraded[agent]
        degraded[agent] = r.refusedToken == nil && !r.sandboxMissing.isEmpty ? "sandbox layers missing: " + r.sandboxMissing.joined(separator: ",") : nil
        if degraded[agent] != before { report() }
    }
}
