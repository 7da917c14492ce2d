import JGGateCore
import Testing

@Suite struct ShellWordsTests {
    func words(_ s: String) -> [String] { ShellWords.split(s).map(\.text) }

    @Test func quoteRemoval() {
        #expect(words("su''do id") == ["sudo", "id"])
        #expect(words("s\"ud\"o id") == ["sudo", "id"])
        #expect(words("s\\udo  id") == ["sudo", "id"])
        #expect(words("'a b' \"c\\\"d\" e\\ f") == ["a b", "c\"d", "e f"])
        #expect(words("\"a\\b\"") == ["a\\b"])           // inside "", \ only escapes $ ` " \ newline
        #expect(words("$'\\x73udo' x") == ["sudo", "x"])
        #expect(words("a\\\nb") == ["ab"])
        #expect(words("''") == [""])                     // an empty quoted word is still a word
        #expect(words("echo x # sudo") == ["echo", "x"])
        #expect(words("echo a#b") == ["echo", "a#b"])
        #expect(words("'unterminated") == ["unterminated"])
    }

    @Test func operatorsSplitCommands() {
        let w = ShellWords.split("a b;c|d&&e $(f g)")
        #expect(w.map(\.text) == ["a", "b", ";", "c", "|", "d", "&&", "e", "$", "(", "f", "g", ")"])
        #expect(ShellWords.simpleCommands(w).map { $0.map(\.text) } == [["a", "b"], ["c"], ["d"], ["e", "$"], ["f", "g"]])
        #expect(ShellWords.unquoted("r''m -r  -f /x") == "rm -r -f /x")
    }

    @Test func globsOnlyWhenUnquoted() {
        let w = ShellWords.split("a?b 'a?b' a\\*b [x]")
        #expect(w.map(\.hasGlob) == [true, false, false, true])
        #expect(ShellWords.globMatches(w[0], Array("axb".utf8)))
        #expect(!ShellWords.globMatches(w[1], Array("axb".utf8)))
        #expect(ShellWords.globMatches(w[1], Array("a?b".utf8)))
        #expect(ShellWords.globMatches(w[2], Array("a*b".utf8)) && !ShellWords.globMatches(w[2], Array("axxb".utf8)))
    }

    @Test(arguments: [("*", "anything", true), ("canary_decoy_a9?f", "canary_decoy_a91f", true), ("c*f", "canary_decoy_a91f", true),
                      ("c*g", "canary_decoy_a91f", false), ("canary_decoy_a9[0-9]f", "canary_decoy_a91f", true),
                      ("canary_decoy_a9[!0-9]f", "canary_decoy_a91f", false), ("*.txt", "canary_decoy_a91f", false),
                      ("[", "[", true), ("a**b", "ab", true), ("?", "", false)])
    func globMatching(_ t: (String, String, Bool)) {
        let w = ShellWords.split(t.0)
        #expect(w.count == 1)
        #expect(ShellWords.globMatches(w[0], Array(t.1.utf8)) == t.2, "\(t)")
    }

    @Test func canaryMatcher() {
        let m = CanaryMatcher(["canary_decoy_a91f", "/srv/decoy/Key.pem"])
        for cmd in ["cat canary_decoy_a9?f", "cat CANARY_DECOY_A91F", "cat canary_decoy_a9''1f", "cat canar*", "cat ./x/Canary_Decoy_A9[0-9]f",
                    "cat \"canary\"_decoy_a91f", "cat /srv/decoy/k*", "cat *"] {
            #expect(m.hit(texts: [], shellCommand: cmd) != nil, "\(cmd)")
        }
        for cmd in ["cat notes.txt", "ls *.txt", "cat 'canary_decoy_a9?f'", "echo canary"] {
            #expect(m.hit(texts: [], shellCommand: cmd) == nil, "\(cmd)")
        }
        #expect(m.hit(texts: ["read_CANARY_decoy_a91f"], shellCommand: nil) == "canary_decoy_a91f")
        #expect(m.hit(texts: ["/tmp/x"], shellCommand: nil) == nil)
        #expect(CanaryMatcher([]).hit(texts: ["anything"], shellCommand: "cat *") == nil)
    }
}
