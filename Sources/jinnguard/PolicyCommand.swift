import ArgumentParser
import JGPolicy

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "policy", abstract: "Policy tools.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Load a policy as the daemon would; exit 1 with file:line: reason.")
        @Argument(help: "The policy YAML.") var file: String

        func run() throws {
            do {
                let p = try PolicyCheck.loadAndCompile(path: file)
                print("\(file): OK, \(p.agents.count) agents, \(p.agents.reduce(0) { $0 + $1.invariants.count }) invariants, ceiling \(p.globalSafetyCeiling)")
            } catch {
                print("\(error)")
                throw ExitCode(1)
            }
        }
    }
}
