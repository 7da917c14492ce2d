import JGGateCore

/// Destructive commands recognised by their words rather than their spelling: `rm -r -f /x`,
/// `rm -fR /x`, `rm --recursive --force /x` and `"rm" -rf /x` are all `rm -rf /x`.
enum DestructiveCommands {
    static func violation(_ words: [ShellWords.Word]) -> String? {
        for cmd in ShellWords.simpleCommands(words) {
            var args = cmd.map(\.text)
            // Wrappers that run their argument as the command.
            while let first = args.first, ["sudo", "env", "command", "exec", "nohup", "nice", "time", "busybox"].contains(base(first)) {
                args.removeFirst()
            }
            guard let program = args.first, base(program) == "rm" else { continue }
            var recursive = false, force = false, absolute = false, options = true
            for a in args.dropFirst() {
                if options && a == "--" { options = false; continue }
                if options && a.hasPrefix("--") {
                    if a == "--recursive" { recursive = true }
                    if a == "--force" { force = true }
                    continue
                }
                if options && a.hasPrefix("-") && a.count > 1 {
                    if a.contains("r") { recursive = true }
                    if a.contains("f") { force = true }
                    continue
                }
                if a.hasPrefix("/") { absolute = true }
            }
            if recursive && force && absolute { return "destructive command (\"rm -rf /\")" }
        }
        return nil
    }

    static func base(_ p: String) -> String { p.split(separator: "/").last.map(String.init) ?? p }
}
