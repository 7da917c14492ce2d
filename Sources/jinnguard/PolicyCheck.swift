import JGPolicy
import JGPolicyYAML
import JGProverCore

/// Loading a policy file the way the daemon does: syntax and checks (JGPolicy), compiling every
/// invariant into Z3, then the static analysis (JGProverCore.PolicyAnalyzer), so that what passes
/// here also loads in jg-prover and a policy with analysis errors is refused at start and on SIGHUP.
enum PolicyCheck {
    struct Failure: Error, CustomStringConvertible { var description: String }

    /// The daemon's entry point (start, SIGHUP): throws on load, compile or analysis errors.
    static func loadAndCompile(path: String) throws(Failure) -> Policy {
        try loadAnalyzed(path: path).policy
    }

    /// As `loadAndCompile`, and also returns the analysis warnings, which never refuse a policy.
    static func loadAnalyzed(path: String) throws(Failure) -> (policy: Policy, warnings: [Finding]) {
        let (policy, analysis) = try analyzeFile(path: path)
        if !analysis.errors.isEmpty {
            throw Failure(description: analysis.errors.map { $0.formatted(file: path) }.joined(separator: "\n"))
        }
        return (policy, analysis.warnings)
    }

    /// The canonical JSON form the components receive, read back once here: a policy they would refuse
    /// is refused at start, or on SIGHUP while the running one stays, rather than by each component.
    static func canonicalForm(_ policy: Policy) throws(Failure) -> String {
        let text = CanonicalPolicy.encode(policy)
        do { _ = try CanonicalPolicy.decode(text) } catch { throw Failure(description: "\(policy.sourceName): \(error)") }
        return text
    }

    /// Loads and compiles, then analyses; analysis errors are returned, not thrown.
    static func analyzeFile(path: String) throws(Failure) -> (Policy, PolicyAnalysis) {
        let engine = ProverEngine()
        let policy = try load(path: path, engine: engine)
        return (policy, PolicyAnalyzer.analyze(policy, engine: engine))
    }

    /// Loads and compiles into `engine` without analysis (what `policy diff` needs of each side).
    static func load(path: String, engine: ProverEngine) throws(Failure) -> Policy {
        guard let bytes = KeyLoader.readFile(path) else {
            throw Failure(description: "\(path): cannot read policy file")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw Failure(description: "\(path): not UTF-8") }
        let policy: Policy
        do { policy = try PolicyLoader.load(text: text, sourceName: path) } catch { throw Failure(description: error.description) }
        do { try engine.load(policy: policy) } catch {
            throw Failure(description: "\(path):\(error.line): \(error.reason)")
        }
        return policy
    }
}
