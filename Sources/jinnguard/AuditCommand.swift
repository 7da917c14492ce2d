import ArgumentParser
import JGAudit

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Audit log tools.", subcommands: [Verify.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Verify a hash-chained audit log; exit 1 naming the first bad line.")
        @Argument(help: "The audit log.") var path: String

        func run() throws {
            let r = AuditVerifier.verify(path: path)
            if r.ok {
                print("\(path): OK, \(r.entries) entries, chain intact")
            } else {
                print("\(path): FAILED at line \(r.firstBadLine.map(String.init) ?? "?"): \(r.reason ?? "unknown")")
                throw ExitCode(1)
            }
        }
    }
}
