import JGPolicy
import JGProverCore

/// Loading a policy file the way the daemon does: syntax and checks (JGPolicy), then compiling every
/// invariant into Z3 (JGProverCore), so that what passes here also loads in jg-prover.
enum PolicyCheck {
    struct Failure: Error, CustomStringConvertible { var description: String }

    static func loadAndCompile(path: String) throws(Failure) -> Policy {
        guard let bytes = KeyLoader.readFile(path) else {
            throw Failure(description: "\(path): cannot read policy file")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw Failure(description: "\(path): not UTF-8") }
        let policy: Policy
        do { policy = try PolicyLoader.load(text: text, sourceName: path) } catch { throw Failure(description: error.description) }
        let engine = ProverEngine()
        do { try engine.load(policy: policy) } catch {
            throw Failure(description: "\(path):\(error.line): \(error.reason)")
        }
        return policy
    }
}
