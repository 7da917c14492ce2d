import ArgumentParser
import Glibc
import JGIPC
import JGAudit
import JGCrypto
import JGJSON

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Audit log tools.", subcommands: [Verify.self, Show.self, Erase.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a hash-chained audit log; exit 1 naming the first bad line.",
            discussion: "Exit codes: 0 the chain (and with --pubkey every signed checkpoint) verifies; 1 it does not (the first bad line is named); 2 the log (or the key) cannot be read.")
        @Argument(help: "The audit log (default: ./jinnguard-state/audit.jsonl, else the installed /var/lib/jinnguard/audit.jsonl, whichever exists).") var log: String?
        @Option(help: "The broker's exported checkpoint key (audit-signing.pub, hex): every checkpoint in <log>.manifests must verify under it, and the log must reach the highest attested index.")
        var pubkey: String?

        func run() throws {
            // No path: the embedded daemon's log, else the installed one; with neither it is a usage error.
            guard let path = log ?? ["jinnguard-state/audit.jsonl", InstalledLayout.stateDir + "/audit.jsonl"].first(where: { access($0, F_OK) == 0 }) else {
                StandardError.write("Error: no audit log given, and none at ./jinnguard-state/audit.jsonl or \(InstalledLayout.stateDir)/audit.jsonl\n")
                throw ExitCode(2)
            }
            // A log that is not there is not a log that fails: say which, and exit 2 (not 1).
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                print("\(path): cannot read: \(String(cString: strerror(errno)))")
                throw ExitCode(2)
            }
            close(fd)
            let r = AuditVerifier.verify(path: path)
            guard r.ok else {
                print("\(path): FAILED at line \(r.firstBadLine.map(String.init) ?? "?"): \(r.reason ?? "unknown")")
                throw ExitCode(1)
            }
            if let pubkey {
                let text = AuditSigningKey.readSmall(pubkey) ?? pubkey
                guard let key = Digest.unhex(text.trimmingWhitespace()), key.count == 32 else {
                    print("\(pubkey): not an Ed25519 public key (64 hex digits, or a file holding them)")
                    throw ExitCode(2)
                }
                if let bad = AuditCheckpoint.verifySignatures(logPath: path, publicKey: key) {
                    print("\(path).manifests: FAILED at line \(bad.line): \(bad.reason)")
                    throw ExitCode(1)
                }
                print("\(path): OK, \(r.entries) entries, chain intact, signed checkpoints verify (attested up to index \(r.attestedLastIndex.map(String.init) ?? "-"))")
            } else {
                print("\(path): OK, \(r.entries) entries, chain intact")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one audit record, indented; for a DENY_VIOLATION also the violated invariants and the explanation.",
            discussion: "Exit codes: 0 shown, 1 no record with that index (or the log cannot be read).")
        @Argument(help: "The record's index (the `index` field, from 0).") var index: UInt64
        @Option(help: "The audit log.") var auditLog = InstalledLayout.defaultStateDir() + "/audit.jsonl"

        func run() throws {
            guard let f = fopen(auditLog, "r") else {
                print("\(auditLog): cannot open: \(String(cString: strerror(errno)))")
                throw ExitCode(1)
            }
            defer { fclose(f) }
            var line: UnsafeMutablePointer<CChar>?
            var cap = 0
            defer { free(line) }
            var lineNo = 0
            // Streamed line by line: an audit log may be far larger than memory should hold.
            while getline(&line, &cap, f) > 0 {
                lineNo += 1
                guard let line else { break }
                let text = String(cString: line)
                guard let v = try? JSONParser.parse(text), case let .integer(i)? = v["index"], i.uint64 == index else { continue }
                print("\(auditLog):\(lineNo): record \(index)")
                print(Self.pretty(v))
                Self.explain(v)
                return
            }
            print("\(auditLog): no record with index \(index)")
            throw ExitCode(1)
        }

        static func explain(_ v: JSONValue) {
            let decision = v["decision"]
            guard let verdict = decision?["verdict"]?.stringValue else { return }
            var extra: [String] = ["verdict: \(verdict)"]
            if case let .array(inv)? = v["assessment"]?["violated_invariants"], !inv.isEmpty {
                extra.append("violated invariants:")
                for i in inv { extra.append("  - \(i.stringValue ?? JSONWriter.write(i))") }
            } else if verdict == "DENY_VIOLATION" {
                extra.append("violated invariants: none recorded (a broker hard rule or a missing value denied it)")
            }
            if let r = decision?["reason"]?.stringValue { extra.append("explanation: \(r)") }
            if verdict == "DENY_VIOLATION" || verdict.hasPrefix("DENY_") { print(extra.joined(separator: "\n")) }
        }

        /// Two-space indented JSON, keys in the order written (the audit format fixes that order).
        static func pretty(_ v: JSONValue, indent: String = "") -> String {
            let inner = indent + "  "
            switch v {
            case let .object(pairs):
                if pairs.isEmpty { return "{}" }
                let body = pairs.map { "\(inner)\(JSONWriter.quote($0.0)): \(pretty($0.1, indent: inner))" }
                return "{\n" + body.joined(separator: ",\n") + "\n\(indent)}"
            case let .array(xs):
                if xs.isEmpty { return "[]" }
                let body = xs.map { inner + pretty($0, indent: inner) }
                return "[\n" + body.joined(separator: ",\n") + "\n\(indent)]"
            default:
                return JSONWriter.write(v)
            }
        }
    }
}

extension Audit {
    struct Erase: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Erase one subject's personal data (crypto-shredding); the chain still verifies.",
            discussion: "Subjects are named as in the sealed store, e.g. uid:1000. Exit 0 erased, 1 nothing held for that subject.")
        @Option(help: "The subject, e.g. uid:1000.") var subject: String
        @Option(help: "The audit log.") var auditLog = InstalledLayout.defaultStateDir() + "/audit.jsonl"

        func run() throws {
            if SealedStore.erase(auditLogPath: auditLog, subject: subject) {
                print("erased the sealed personal data of \(subject) next to \(auditLog)")
            } else {
                print("no sealed data for \(subject) next to \(auditLog)")
                throw ExitCode(1)
            }
        }
    }
}
