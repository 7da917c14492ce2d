/// The command line of `jinnguard agent run` / `jg-agent-run`, parsed by hand so that neither entry point
/// needs the argument parser (whose start-up alone takes longer than building the runtime): the same
/// options, `--name value` and `--name=value`, CMD after `--` or at the first word that is no option.
public enum LockedAgentArguments {
    public enum Outcome: Sendable {
        case run(LockedAgentRun.Request)
        case help
        /// Not understood here: the caller says why (jg-agent-run) or leaves it to the full parser (jinnguard).
        case unusable(String)
    }

    static let valued = ["--agent", "--socket", "--secret-file", "--workspace", "--read-only", "--env", "--state-dir", "--uid"]

    public static func parse(_ arguments: [String]) -> Outcome {
        var request = LockedAgentRun.Request()
        var args = arguments[...]
        var sawAgent = false
        while let a = args.first {
            args = args.dropFirst()
            if a == "--" { request.command = Array(args); break }
            if a == "--best-effort" { request.bestEffort = true; continue }
            if a == "-h" || a == "--help" { return .help }
            var name = a, value: String?
            if a.hasPrefix("--"), let eq = a.firstIndex(of: "=") { name = String(a[..<eq]); value = String(a[a.index(after: eq)...]) }
            guard valued.contains(name) else {
                if !a.hasPrefix("-") { request.command = [a] + Array(args); break }
                return .unusable("unknown option \(a)")
            }
            if value == nil, let next = args.first {
                args = args.dropFirst()
                value = next
            }
            guard let v = value else { return .unusable("\(name) needs a value") }
            switch name {
            case "--agent": request.agent = v; sawAgent = true
            case "--socket": request.socket = v
            case "--secret-file": request.secretFile = v
            case "--workspace": request.workspace = v
            case "--read-only": request.readOnly.append(v)
            case "--env": request.env.append(v)
            case "--state-dir": request.stateDir = v
            default: request.uid = v
            }
        }
        guard sawAgent else { return .unusable("--agent ID is required") }
        return .run(request)
    }
}
