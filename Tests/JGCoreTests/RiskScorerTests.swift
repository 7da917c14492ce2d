import JGGateCore
import JGPolicy
import JGIPC
import Testing
import JGTestSupport

/// Code-point containment, the straightforward way: every window of the haystack's scalars compared with
/// the needle's (an empty needle is found nowhere).
func scalarContains(_ haystack: String, _ needle: String) -> Bool {
    let h = Array(haystack.unicodeScalars), n = Array(needle.unicodeScalars)
    guard !n.isEmpty, n.count <= h.count else { return false }
    for i in 0...(h.count - n.count) where Array(h[i..<(i + n.count)]) == n { return true }
    return false
}

/// The classifier of PROTOCOL.md §5 word for word, written plainly: lower-case the `\n`-joined texts with
/// full Unicode rules, then look for each word's code points. The byte-level scorer must agree with it on
/// every input.
enum ReferenceScorer {
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

    static func semantic(_ p: Proposal) -> (String, Double) {
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
        for g in groups where g.words.contains(where: { scalarContains(text, $0) }) {
            result = (g.name, g.score)
            break
        }
        if let src = p.sourceCode, !src.isEmpty, result.1 < 55 { result = ("code", 55) }
        return result
    }

    static func topologyRisk(_ caps: [String]) -> Double {
        var total = 0.0
        for c in caps {
            let l = c.lowercased()
            if let t = topology.first(where: { $0.words.contains(where: { scalarContains(l, $0) }) }) { total += t.score }
        }
        return min(total, 100)
    }
}


@Suite struct RiskScorerEquivalenceTests {
    static let words = ReferenceScorer.groups.flatMap(\.words) + ReferenceScorer.topology.flatMap(\.words)

    /// Fragments that build keywords, near-misses, keywords cut at every point, case variants, and
    /// non-ASCII that lower-cases into ASCII letters or combines with its neighbours.
    static let fragments: [String] = {
        var f = words
        for w in words {
            f.append(w.uppercased())
            f.append(String(w.prefix(1)).uppercased() + w.dropFirst())
            for cut in 1..<w.count {
                f.append(String(w.prefix(cut)))
                f.append(String(w.dropFirst(cut)))
            }
        }
        f += [" ", "  ", "\n", "\r\n", "\r", "\t", "\u{0}", "-", "+", "_", "/", "rm", "chmod", "+S", "x", "Z", "@", "[", "`", "{",
              "\u{212A}", // KELVIN SIGN: lower-cases to "k" (unlin\u{212A} → unlink)
              "\u{0130}", // LATIN CAPITAL I WITH DOT: lower-cases to "i̇"
              "\u{0301}", "\u{0307}", "é", "e\u{0301}", "ß", "ẞ", "Σ", "ς", "ﬁ", "\u{FEFF}", "\u{200D}", "🦀", "👩‍💻", "ı", "ſ", "Å", "\u{2126}"]
        return f
    }()

    static func randomText(_ rng: inout SeededRandom, nonASCII: Bool) -> String {
        var s = ""
        for _ in 0..<Int.random(in: 0...8, using: &rng) {
            let frag = fragments.randomElement(using: &rng)!
            if !nonASCII && frag.utf8.contains(where: { $0 >= 0x80 }) { continue }
            s += frag
        }
        return s
    }

    static func randomProposal(_ rng: inout SeededRandom) -> Proposal {
        // Half the corpus stays ASCII (the fast path), half may hold anything (the Unicode path).
        let nonASCII = Bool.random(using: &rng)
        func maybe(_ rng: inout SeededRandom) -> String? {
            Int.random(in: 0..<3, using: &rng) == 0 ? nil : randomText(&rng, nonASCII: nonASCII)
        }
        var p = Proposal()
        p.intentName = maybe(&rng)
        p.prompt = maybe(&rng)
        p.plan = maybe(&rng)
        p.sourceCode = Int.random(in: 0..<4, using: &rng) == 0 ? maybe(&rng) : nil
        p.requestedCapabilities = (0..<Int.random(in: 0...3, using: &rng)).map { _ in randomText(&rng, nonASCII: nonASCII) }
        if Bool.random(using: &rng) {
            var a = ProposedAction(kind: "shell")
            a.command = maybe(&rng)
            a.path = maybe(&rng)
            a.url = maybe(&rng)
            a.contents = maybe(&rng) // not classified: must make no difference
            p.proposedAction = a
        }
        return p
    }

    static func check(_ p: Proposal) -> Bool {
        let new = RiskScorer.semantic(p), old = ReferenceScorer.semantic(p)
        let ok = new.0 == old.0 && new.1 == old.1
            && RiskScorer.topologyRisk(p.requestedCapabilities) == ReferenceScorer.topologyRisk(p.requestedCapabilities)
        if !ok {
            Issue.record("""
                scorer differs: intent \(String(reflecting: p.intentName)) prompt \(String(reflecting: p.prompt)) \
                plan \(String(reflecting: p.plan)) source \(String(reflecting: p.sourceCode)) caps \(p.requestedCapabilities) \
                action \(String(reflecting: p.proposedAction?.command)) \(String(reflecting: p.proposedAction?.path)) \
                \(String(reflecting: p.proposedAction?.url)): new \(new) / \(RiskScorer.topologyRisk(p.requestedCapabilities)), \
                old \(old) / \(ReferenceScorer.topologyRisk(p.requestedCapabilities))
                """)
        }
        return ok
    }

    @Test func boundariesAndUnicodeLowercasing() {
        let cases: [String] = [
            "", "sudo", "SUDO", "SuDo", "su do", "sud\no", "xsudox", "sud", "udo",
            "chmod +s", "CHMOD +S", "chmod  +s", "chmod +", "rm -rf /", "RM -", "rm-", "rm", "write file", "WRITE FILE",
            "write\nfile", "writefile", "https://x", "HTTP", "htt", "exfil", "exfi", "list", "lis", "readme", "rea",
            "subprocess", "subproces", "summarize", "Summarize", "privilege", "privileg",
            "unlin\u{212A}", "UNLIN\u{212A}", "\u{212A}", "pr\u{0130}vilege", "PR\u{0130}VILEGE", "\u{0130}nspect", "l\u{0130}st",
            "sudo\u{0301}", "e\u{0301}xec", "exe\u{0301}c", "exec\u{0301}", "\u{0301}exec", "ﬁle", "ﬁ", "ſhell", "ſudo",
            "Σhell", "stra\u{DF}e read", "🦀 bash", "bash 🦀", "\u{FEFF}sudo", "su\u{200D}do", "s\u{0}udo", "sudo\u{0}",
            "\r\nexec\r\n", "\u{2126}", "Å read",
        ]
        for c in cases {
            var p = Proposal()
            p.intentName = c
            _ = Self.check(p)
            p.intentName = nil
            p.requestedCapabilities = [c]
            _ = Self.check(p)
            // The same text split across two fields: the `\n` join must not create a match.
            for cut in c.indices {
                var q = Proposal()
                q.intentName = String(c[..<cut])
                q.prompt = String(c[cut...])
                _ = Self.check(q)
            }
            var s = Proposal()
            s.intentName = c
            s.sourceCode = c
            _ = Self.check(s)
        }
    }

    @Test func randomCorpusAgreesWithTheReference() {
        var rng = SeededRandom(state: 0x6A67_2D67_6174_65)
        var failures = 0
        var unicodePath = 0
        for _ in 0..<20_000 where failures < 20 {
            let p = Self.randomProposal(&rng)
            if !Self.check(p) { failures += 1 }
            var any = false
            RiskScorerProbe.forEachText(p) { s in if s.utf8.contains(where: { $0 >= 0x80 }) { any = true } }
            if any { unicodePath += 1 }
        }
        #expect(failures == 0)
        // Both paths were exercised.
        #expect(unicodePath > 1000 && unicodePath < 19_000)
    }

    /// A mark or joiner next to a keyword does not hide it (it would from a search by user-perceived
    /// characters, where "e" + U+0301 is one character that is not "e").
    @Test func combiningMarksAndJoinersDoNotHideKeywords() {
        var p = Proposal()
        p.intentName = "sudo\u{0301} now"
        #expect(RiskScorer.semantic(p) == ("privilege", 90))
        p.intentName = "run exe\u{0301}c"
        #expect(RiskScorer.semantic(p).0 != "execution")  // "exe" + mark + "c" is not the word exec
        p.intentName = "exec\u{200D}"
        #expect(RiskScorer.semantic(p) == ("execution", 80))
        #expect(RiskScorer.topologyRisk(["write\u{200D}"]) == 12)
        #expect(RiskScorer.topologyRisk(["NETWORK\u{0308}", "shell\u{FE0F}"]) == 33)
        #expect(RiskScorer.topologyRisk(["UNLIN\u{212A}"]) == 0)
        p.intentName = "UNLIN\u{212A}"  // KELVIN SIGN lower-cases to "k"
        #expect(RiskScorer.semantic(p) == ("destruction", 70))
    }

    @Test func everyKeywordOnItsOwnAndEmbedded() {
        for w in Self.words {
            for t in [w, w.uppercased(), "x" + w + "x", "\n" + w, w + "\u{212A}", "\u{0130}" + w, String(w.dropLast()), String(w.dropFirst())] {
                var p = Proposal()
                p.plan = t
                p.requestedCapabilities = [t, "file"]
                _ = Self.check(p)
            }
        }
    }
}

/// The texts the classifier reads, as the test counts them.
enum RiskScorerProbe {
    static func forEachText(_ p: Proposal, _ body: (String) -> Void) {
        [p.intentName, p.prompt, p.plan, p.sourceCode].forEach { if let s = $0 { body(s) } }
        p.requestedCapabilities.forEach(body)
        [p.proposedAction?.command, p.proposedAction?.path, p.proposedAction?.url].forEach { if let s = $0 { body(s) } }
    }
}

@Suite struct TextSearchTests {
    /// The canary check's substring search against the plain code-point search.
    @Test func agreesWithCodePointSearch() {
        let pieces = ["canary", "CANARY", "decoy", "_", "a91f", "a", "\n", "\r", "\r\n", " ", "\u{0}", "é", "e\u{0301}", "\u{0301}",
                      "\u{212A}", "🦀", "ß", "/tmp/", ".", "x"]
        var rng = SeededRandom(state: 42)
        func text(_ max: Int, _ from: [String]) -> String {
            (0..<Int.random(in: 0...max, using: &rng)).map { _ in from.randomElement(using: &rng)! }.joined()
        }
        var checked = 0
        for _ in 0..<20_000 {
            let needle = text(3, pieces), hay = text(8, pieces)
            let expected = scalarContains(hay, needle)
            if TextSearch.contains(hay, needle) != expected {
                Issue.record("\(String(reflecting: hay)) contains \(String(reflecting: needle)): expected \(expected)")
                return
            }
            checked += 1
        }
        for (hay, needle) in [("read_canary_decoy_a91f", "canary_decoy_a91f"), ("canary_decoy_a9", "canary_decoy_a91f"),
                              ("", ""), ("abc", ""), ("x\r\ny", "\r"), ("x\r\ny", "\n"), ("cafe\u{0301}", "cafe"), ("CANARY", "canary")] {
            #expect(TextSearch.contains(hay, needle) == scalarContains(hay, needle), "\(String(reflecting: hay)) / \(String(reflecting: needle))")
        }
        // A joiner or mark after the resource name does not hide it; case still matters.
        #expect(TextSearch.contains("open canary_decoy_a91f\u{200D}", "canary_decoy_a91f"))
        #expect(TextSearch.contains("canary_decoy_a91f\u{0301}", "canary_decoy_a91f"))
        #expect(!TextSearch.contains("CANARY_DECOY_A91F", "canary_decoy_a91f"))
        #expect(checked == 20_000)
    }

    @Test func firstRangeIsByteExactAndSlicesTheString() {
        let url = "https://h\u{00E9}st:8443/p://x"
        guard let r = TextSearch.firstRange(of: "://", in: url) else { Issue.record("not found"); return }
        #expect(String(url[..<r.lowerBound]) == "https")
        #expect(String(url[r.upperBound...]) == "h\u{00E9}st:8443/p://x")
        #expect(TextSearch.firstRange(of: "", in: url) == nil)
        #expect(TextSearch.firstRange(of: "://", in: ":/") == nil)
        // A combining mark after the needle does not hide it (String.firstRange would say nil here).
        let marked = "a:/\u{0301}/"
        #expect(TextSearch.firstRange(of: ":/", in: marked) != nil)
    }
}
