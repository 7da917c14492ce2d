import Glibc
import JGSandbox

// `jg-agent-run`: `jinnguard agent run` as a binary of its own, without the operator command's libraries
// (Foundation, ICU, Z3). Same options, same procedure (LockedAgentArguments, LockedAgentRun).
let usage = """
    usage: jg-agent-run --agent ID [--socket PATH] [--secret-file PATH] [--workspace DIR] [--read-only PATH]...
                        [--env NAME=VALUE]... [--state-dir DIR] [--uid UID[:GID]] [--best-effort] -- CMD [ARGS...]
    (the options of `jinnguard agent run`; see `jinnguard agent run --help`)

    """

switch LockedAgentArguments.parse(Array(CommandLine.arguments.dropFirst())) {
case .help:
    _ = usage.withCString { write(1, $0, strlen($0)) }
    exit(0)
case let .unusable(why):
    let line = "jg-agent-run: \(why)\n" + usage
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(LockedAgentRun.startFailure)
case let .run(request):
    exit(LockedAgentRun.run(request))
}
