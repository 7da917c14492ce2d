import JGPolicy

/// Step 9's text check. A canary counts as named when it appears in a text of the request in any case,
/// when it appears in a shell command once quotes are removed, or when a shell pattern in the command
/// (`canary_decoy_a9?f`, `canar*`) could expand to it. What the text cannot show (a name assembled at
/// run time) is left to the decoy tripwire (CanaryDecoys, jg-kernel's open telemetry).
public struct CanaryMatcher: Sendable {
    struct Canary: Sendable {
        var name: String
        var lowered: String
        /// The last path component, lower-cased: what a pattern in another directory would match.
        var base: [UInt8]
        var full: [UInt8]
    }
    let canaries: [Canary]

    public init(_ names: [String]) {
        canaries = names.filter { !$0.isEmpty }.map { n in
            let l = n.lowercased()
            let base = l.split(separator: "/").last.map(String.init) ?? l
            return Canary(name: n, lowered: l, base: Array(base.utf8), full: Array(l.utf8))
        }
    }

    public var isEmpty: Bool { canaries.isEmpty }

    /// The first canary the texts name; `shellCommand` is read as sh would read it.
    public func hit(texts: [String], shellCommand: String?) -> String? {
        guard !canaries.isEmpty else { return nil }
        var lowered = texts.map { $0.lowercased() }
        var words: [ShellWords.Word] = []
        if let cmd = shellCommand {
            let l = cmd.lowercased()
            lowered.append(l)
            words = ShellWords.split(l)
            lowered.append(ShellWords.join(words))
        }
        let patterns = words.filter { !$0.isOperator && $0.hasGlob }
        for c in canaries {
            if lowered.contains(where: { TextSearch.contains($0, c.lowered) }) { return c.name }
            for w in patterns where ShellWords.globMatches(w, c.full) || ShellWords.globMatches(Self.lastComponent(w), c.base) {
                return c.name
            }
        }
        return nil
    }

    static func lastComponent(_ w: ShellWords.Word) -> ShellWords.Word {
        guard let slash = w.bytes.lastIndex(of: UInt8(ascii: "/")) else { return w }
        return ShellWords.Word(bytes: Array(w.bytes[(slash + 1)...]), glob: Array(w.glob[(slash + 1)...]), isOperator: false)
    }
}
