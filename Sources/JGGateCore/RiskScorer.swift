import JGIPC

/// The default risk arithmetic of PROTOCOL.md §5 (compat: harnesses depend on its outcomes).
public enum RiskScorer {
    static let groups: [(name: String, score: Double, words: [String])] = [
        ("privilege", 90, ["sudo", "setuid", "chmod +s", "capset", "privilege"]),
        ("execution", 80, ["exec", "spawn", "shell", "bash", "subprocess", "command"]),
        ("destruction", 70, ["delete", "overwrite", "write file", "rm -", "unlink"]),
        ("network", 65, ["connect", "socket", "http", "https", "network", "exfil"]),
        ("code", 55, ["patch", "source", "compile", "cargo", "python"]),
        ("reading", 20, ["read", "inspect", "summarize", "list"]),
    ]

    static let topology: [(score: Double, words: [String])] = [
        (15, ["network", "connect", "socket"]),
        (12, ["write", "filesystem", "file"]),
        (18, ["exec", "process", "shell"]),
    ]

    /// (class, score) of the first matching group over the lower-cased text.
    public static func semantic(_ p: Proposal) -> (String, Double) {
        var parts: [String] = []
        if let s = p.intentName { parts.append(s) }
        if let s = p.prompt { parts.append(s) }
        if let s = p.plan { parts.append(s) }
        if let s = p.sourceCode { parts.append(s) }
        parts.append(contentsOf: p.requestedCapabilities)
        if let a = p.proposedAction {
            for s in [a.command, a.path, a.url] { if let s { parts.append(s) } }
        }
        let text = parts.joined(separator: "\n").lowercased()
        var result = ("other", 35.0)
        for g in groups where g.words.contains(where: { text.contains($0) }) {
            result = (g.name, g.score)
            break
        }
        if let src = p.sourceCode, !src.isEmpty, result.1 < 55 { result = ("code", 55) }
        return result
    }

    public static func topologyRisk(_ caps: [String]) -> Double {
        var total = 0.0
        for c in caps {
            let l = c.lowercased()
            if let t = topology.first(where: { $0.words.contains(where: { l.contains($0) }) }) { total += t.score }
        }
        return min(total, 100)
    }

    public struct Scores: Sendable {
        public var riskClass: String
        public var semantic: Double
        public var observed: Double
        public var topology: Double
        public var fused: Double
    }

    public static func score(_ p: Proposal, observation: PeerObservation) -> Scores {
        let (cls, sem) = semantic(p)
        let obs = min(observation.observedRisk, 100)
        let topo = topologyRisk(p.requestedCapabilities)
        var fused = max(0.55 * sem + 0.30 * obs + 0.15 * topo, sem, obs)
        if let d = p.actionRiskScore, d > fused { fused = d }
        fused = min(max(fused, 0), 100)
        return Scores(riskClass: cls, semantic: sem, observed: obs, topology: topo, fused: fused)
    }
}
