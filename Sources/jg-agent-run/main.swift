import Glibc
import JGSandbox

// `jg-agent-run`: `jinnguard agent run` without the operator command's libraries (Foundation, ICU, Z3),
// which take longer to load than the locked runtime takes to build. Same options, same procedure
// (LockedAgentRun); parsed by hand so that nothing else is linked.
let usage = """
    usage: jg-agent-run --agent ID [--socket PATH] [--secret-file PATH] [--workspace DIR] [--read-only PATH]...
                        [--env NAME=VALUE]... [--state-dir DIR] [--uid UID[:GID]] [--best-effort] -- CMD [ARGS...]
    (the options of `jinnguard agent run`; see `jinnguard agent run --help`)

    """

func refuse(_ message: String) -> Never {
    let line = "jg-agent-run: \(message)\n" + usage
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(LockedAgentRun.startFailure)
}

var request = LockedAgentRun.Request()
var args = Array(CommandLine.arguments.dropFirst())
var sawAgent = false
while let a = args.first {
    args.removeFirst()
    if a == "--" { request.command = args; break }
    if a == "--best-effort" { request.bestEffort = true; continue }
    if a == "-h" || a == "--help" { _ = usage.withCString { write(1, $0, strlen($0)) }; exit(0) }
    // --name value and --name=value, as ArgumentParser takes them.
    var name = a, value: String?
    if let eq = a.firstIndex(of: "="), a.hasPrefix("--") { name = String(a[..<eq]); value = String(a[a.index(after: eq)...]) }
    let options = ["--agent", "--socket", "--secret-file", "--workspace", "--read-only", "--env", "--state-dir", "--uid"]
    guard options.contains(name) else {
        // The first word that is no option starts CMD (as with `jinnguard agent run`'s passthrough).
        if !a.hasPrefix("-") { request.command = [a] + args; break }
        refuse("unknown option \(a)")
    }
    if value == nil, let next = args.first {
        args.removeFirst()
        value = next
    }
    guard let v = value else { refuse("\(name) needs a value") }
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
guard sawAgent else { refuse("--agent ID is required") }
exit(LockedAgentRun.run(request))
