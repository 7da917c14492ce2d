import JGIPC

/// The default risk arithmetic of PROTOCOL.md §5 (compat: harnesses depend on its outcomes).
///
/// "Lower-case the text, then look for each group's words" is read the way the contract's reference
/// implementations do it: full Unicode lower-casing (KELVIN SIGN U+212A becomes "k", U+0130 "i̇"), then a
/// search for the word's code points. Matching code points rather than user-perceived characters means a
/// combining mark or an invisible joiner after a keyword ("write\u{200D}", "sudo\u{0301}") cannot hide it.
/// Almost every proposal is ASCII: it is lower-cased and matched byte by byte in one pass against all
/// keywords; other text is lower-cased by the standard library first and then takes the same byte pass
/// (UTF-8 lead and continuation bytes are never ASCII, so a byte match of an ASCII word is a code-point match).
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

    static let groupKeywords = KeywordTable(groups.map(\.words))
    static let topologyKeywords = KeywordTable(topology.map(\.words))

    /// (class, score) of the first matching group over the lower-cased text.
    public static func semantic(_ p: Proposal) -> (String, Double) {
        var found: UInt32 = 0
        forEachText(p) { s in
            // Once the first group matched nothing can outrank it.
            if found & 1 == 0 { found |= groupKeywords.matches(in: s, stopAt: 1) }
        }
        var result = ("other", 35.0)
        // The lowest set bit is the first group in contract order that matched.
        let g = found.trailingZeroBitCount
        if g < groups.count { result = (groups[g].name, groups[g].score) }
        if let src = p.sourceCode, !src.isEmpty, result.1 < 55 { result = ("code", 55) }
        return result
    }

    /// The texts the classifier reads, in contract order. Keywords hold no `\n`, so matching each text on
    /// its own finds exactly what matching their `\n`-joined concatenation finds.
    @inline(__always)
    static func forEachText(_ p: Proposal, _ body: (String) -> Void) {
        if let s = p.intentName { body(s) }
        if let s = p.prompt { body(s) }
        if let s = p.plan { body(s) }
        if let s = p.sourceCode { body(s) }
        for s in p.requestedCapabilities { body(s) }
        if let a = p.proposedAction {
            if let s = a.command {
                body(s)
                // The words the shell would run, quotes removed: `su''do` reads as sudo.
                if a.kind == "shell_command" && s.utf8.contains(where: { $0 == UInt8(ascii: "'") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "$") }) {
                    body(ShellWords.unquoted(s))
                }
            }
            if let s = a.path { body(s) }
            // An MCP call's url only names its server and tool (MCPActionKinds); its arguments are the plan.
            if let s = a.url, !a.kind.hasPrefix("mcp_") { body(s) }
        }
    }

    public static func topologyRisk(_ caps: [String]) -> Double {
        var total = 0.0
        for c in caps {
            let t = topologyKeywords.matches(in: c, stopAt: 1).trailingZeroBitCount
            if t < topology.count { total += topology[t].score }
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

/// Keyword lists (at most 32 groups of lower-case ASCII words) compiled for one pass over ASCII text:
/// at each position only the keywords that begin with that byte are compared. Sendable although it holds
/// pointers: the buffers are filled in `init`, never written again, and never freed (static tables).
struct KeywordTable: @unchecked Sendable {
    /// `first[b] ..< first[b + 1]`: the entries whose keyword begins with byte b.
    private let first: UnsafeMutableBufferPointer<Int32>
    /// Per keyword: its bytes in `text`, and its group's bit.
    private let entries: UnsafeMutableBufferPointer<(offset: Int32, length: Int32, bit: UInt32)>
    private let text: UnsafeMutableBufferPointer<UInt8>

    /// Tables are built once into static constants and live as long as the process.
    init(_ groups: [[String]]) {
        precondition(groups.count <= 32)
        var list: [(word: [UInt8], bit: UInt32)] = []
        for (i, words) in groups.enumerated() {
            for w in words {
                let bytes = Array(w.utf8)
                precondition(!bytes.isEmpty && bytes.allSatisfy { $0 < 0x80 && Self.lower($0) == $0 })
                list.append((bytes, 1 << UInt32(i)))
            }
        }
        list.sort { $0.word[0] < $1.word[0] }
        first = .allocate(capacity: 257)
        entries = .allocate(capacity: list.count)
        text = .allocate(capacity: list.reduce(0) { $0 + $1.word.count })
        var offset = 0
        var k = 0
        for b in 0...256 {
            first[b] = Int32(k)
            while k < list.count && Int(list[k].word[0]) == b {
                entries[k] = (Int32(offset), Int32(list[k].word.count), list[k].bit)
                for (j, c) in list[k].word.enumerated() { text[offset + j] = c }
                offset += list[k].word.count
                k += 1
            }
        }
    }

    @inline(__always)
    static func lower(_ b: UInt8) -> UInt8 { b &- 0x41 < 26 ? b | 0x20 : b }

    /// The bits of the groups with a keyword in `s` once lower-cased. Returns early once a bit in `stop`
    /// is found.
    func matches(in s: String, stopAt stop: UInt32) -> UInt32 {
        var text = s
        if let r = text.withUTF8({ scan($0, stop, asciiOnly: true) }) { return r }
        // Not ASCII: Unicode lower-casing can turn other letters into keyword letters, so it goes first.
        var lowered = s.lowercased()
        return lowered.withUTF8 { scan($0, stop, asciiOnly: false) } ?? 0
    }

    /// nil when `asciiOnly` and the text holds a non-ASCII byte.
    private func scan(_ buf: UnsafeBufferPointer<UInt8>, _ stop: UInt32, asciiOnly: Bool) -> UInt32? {
        if asciiOnly {
            var or: UInt8 = 0
            for b in buf { or |= b }
            guard or < 0x80 else { return nil }
        }
        var found: UInt32 = 0
        let n = buf.count
        var i = 0
        while i < n {
            let c = Int(Self.lower(buf[i]))
            var k = Int(first[c])
            let end = Int(first[c + 1])
            while k < end {
                let e = entries[k]
                let len = Int(e.length)
                if found & e.bit == 0 && len <= n - i {
                    let o = Int(e.offset)
                    var j = 1
                    while j < len && Self.lower(buf[i + j]) == text[o + j] { j += 1 }
                    if j == len {
                        found |= e.bit
                        if found & stop != 0 { return found }
                    }
                }
                k += 1
            }
            i += 1
        }
        return found
    }
}
