/// The words a POSIX shell would see in a command line, after quote removal: what the classifier, the
/// canary check and the broker's destructive-command rule read, so that `su''do`, `"rm" -rf` or
/// `canary_decoy_a9''1f` cannot hide a word behind quoting.
///
/// Not a shell: no expansion is performed. Single quotes, double quotes (with their four backslash
/// escapes), backslashes, `$'…'` strings and `#` comments are handled as sh handles them; every run of
/// operator characters (`; & | ( ) < >`, backquote, newline) is one operator word. What comes out
/// over-approximates what the shell would run, which is the safe direction for a classifier.
public enum ShellWords {
    public struct Word: Sendable, Equatable {
        /// The word after quote removal (UTF-8 bytes of the input, unchanged otherwise).
        public var bytes: [UInt8]
        /// Per byte of `bytes`: an unquoted `*`, `?` or `[`, which the shell would expand as a pattern.
        public var glob: [Bool]
        public var isOperator: Bool

        public var text: String { String(decoding: bytes, as: UTF8.self) }
        public var hasGlob: Bool { glob.contains(true) }
    }

    static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D }
    static func isOperator(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: ";"), UInt8(ascii: "&"), UInt8(ascii: "|"), UInt8(ascii: "("), UInt8(ascii: ")"),
             UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "`"), 0x0A: return true
        default: return false
        }
    }

    public static func split(_ command: String) -> [Word] {
        let s = Array(command.utf8)
        var words: [Word] = []
        var cur = Word(bytes: [], glob: [], isOperator: false)
        var inWord = false
        func end() {
            if inWord { words.append(cur) }
            cur = Word(bytes: [], glob: [], isOperator: false)
            inWord = false
        }
        func add(_ b: UInt8, glob: Bool = false) { cur.bytes.append(b); cur.glob.append(glob); inWord = true }
        var i = 0
        while i < s.count {
            let b = s[i]
            if isBlank(b) { end(); i += 1; continue }
            if isOperator(b) {
                end()
                var op = Word(bytes: [], glob: [], isOperator: true)
                while i < s.count && isOperator(s[i]) { op.bytes.append(s[i]); op.glob.append(false); i += 1 }
                words.append(op)
                continue
            }
            if b == UInt8(ascii: "#") && !inWord {
                while i < s.count && s[i] != 0x0A { i += 1 }
                continue
            }
            switch b {
            case UInt8(ascii: "\\"):
                // Backslash-newline is a line continuation; otherwise the next byte is literal.
                if i + 1 < s.count {
                    if s[i + 1] != 0x0A { add(s[i + 1]) } else { inWord = true }
                    i += 2
                } else {
                    i += 1
                }
            case UInt8(ascii: "'"):
                inWord = true
                i += 1
                while i < s.count && s[i] != UInt8(ascii: "'") { add(s[i]); i += 1 }
                i += 1
            case UInt8(ascii: "\""):
                inWord = true
                i += 1
                while i < s.count && s[i] != UInt8(ascii: "\"") {
                    if s[i] == UInt8(ascii: "\\"), i + 1 < s.count,
                       [UInt8(ascii: "$"), UInt8(ascii: "`"), UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x0A].contains(s[i + 1]) {
                        if s[i + 1] != 0x0A { add(s[i + 1]) }
                        i += 2
                        continue
                    }
                    add(s[i]); i += 1
                }
                i += 1
            case UInt8(ascii: "$") where i + 1 < s.count && s[i + 1] == UInt8(ascii: "'"):
                // $'…': bash's ANSI-C string; its escapes are decoded so `$'\x73udo'` reads as sudo.
                inWord = true
                i += 2
                while i < s.count && s[i] != UInt8(ascii: "'") {
                    if s[i] == UInt8(ascii: "\\"), i + 1 < s.count {
                        let (decoded, used) = ansiEscape(s, i + 1)
                        for d in decoded { add(d) }
                        i += 1 + used
                        continue
                    }
                    add(s[i]); i += 1
                }
                i += 1
            case UInt8(ascii: "*"), UInt8(ascii: "?"), UInt8(ascii: "["):
                add(b, glob: true); i += 1
            default:
                add(b); i += 1
            }
        }
        end()
        return words
    }

    /// One escape of a `$'…'` string starting after its backslash: the bytes it stands for and how many
    /// input bytes it used.
    static func ansiEscape(_ s: [UInt8], _ i: Int) -> ([UInt8], Int) {
        func hex(_ b: UInt8) -> UInt8? {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        switch s[i] {
        case UInt8(ascii: "n"): return ([0x0A], 1)
        case UInt8(ascii: "t"): return ([0x09], 1)
        case UInt8(ascii: "x"):
            var v: UInt8 = 0, n = 0
            while n < 2, i + 1 + n < s.count, let h = hex(s[i + 1 + n]) { v = v << 4 | h; n += 1 }
            return n == 0 ? ([UInt8(ascii: "x")], 1) : ([v], 1 + n)
        case UInt8(ascii: "0")...UInt8(ascii: "7"):
            var v: UInt32 = 0, n = 0
            while n < 3, i + n < s.count, s[i + n] >= UInt8(ascii: "0"), s[i + n] <= UInt8(ascii: "7") {
                v = v << 3 | UInt32(s[i + n] - UInt8(ascii: "0")); n += 1
            }
            return ([UInt8(truncatingIfNeeded: v)], n)
        default: return ([s[i]], 1)
        }
    }

    /// The command's words joined by single spaces: the text the shell would read, quotes removed.
    public static func unquoted(_ command: String) -> String {
        join(split(command))
    }

    /// Words joined by single spaces.
    public static func join(_ words: [Word]) -> String {
        var out: [UInt8] = []
        for (i, w) in words.enumerated() {
            if i > 0 { out.append(0x20) }
            out += w.bytes
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The simple commands (runs of words between operators).
    public static func simpleCommands(_ words: [Word]) -> [[Word]] {
        var out: [[Word]] = [], cur: [Word] = []
        for w in words {
            if w.isOperator { if !cur.isEmpty { out.append(cur) }; cur = [] } else { cur.append(w) }
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    /// Whether the word, as a shell pattern (only its unquoted metacharacters count), matches `name`.
    public static func globMatches(_ w: Word, _ name: [UInt8]) -> Bool {
        match(w.bytes[...], w.glob[...], name[...])
    }

    private static func match(_ p: ArraySlice<UInt8>, _ g: ArraySlice<Bool>, _ n: ArraySlice<UInt8>) -> Bool {
        var pi = p.startIndex, ni = n.startIndex
        // Backtracking point of the last `*`: the classic linear-time wildcard match.
        var starP: Int? = nil, starN = 0
        while ni < n.endIndex {
            if pi < p.endIndex, g[pi], p[pi] == UInt8(ascii: "*") {
                starP = pi; starN = ni; pi += 1
                continue
            }
            if pi < p.endIndex {
                if g[pi], p[pi] == UInt8(ascii: "?") { pi += 1; ni += 1; continue }
                if g[pi], p[pi] == UInt8(ascii: "["), let (ok, next) = bracket(p, pi, n[ni]) {
                    if ok { pi = next; ni += 1; continue }
                } else if p[pi] == n[ni] {
                    pi += 1; ni += 1; continue
                }
            }
            guard let sp = starP else { return false }
            starN += 1; ni = starN; pi = sp + 1
        }
        while pi < p.endIndex, g[pi], p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.endIndex
    }

    /// A bracket expression at `i`: whether `c` is in it and the index after it; nil when unterminated
    /// (then the `[` is literal, as in sh).
    private static func bracket(_ p: ArraySlice<UInt8>, _ i: Int, _ c: UInt8) -> (Bool, Int)? {
        var j = i + 1
        var negate = false
        if j < p.endIndex, p[j] == UInt8(ascii: "!") || p[j] == UInt8(ascii: "^") { negate = true; j += 1 }
        var found = false
        var first = true
        while j < p.endIndex {
            if p[j] == UInt8(ascii: "]") && !first { return (found != negate, j + 1) }
            first = false
            if j + 2 < p.endIndex, p[j + 1] == UInt8(ascii: "-"), p[j + 2] != UInt8(ascii: "]") {
                if p[j] <= c && c <= p[j + 2] { found = true }
                j += 3
            } else {
                if p[j] == c { found = true }
                j += 1
            }
        }
        return nil
    }
}
