/// One fuzz target: a parser driven with arbitrary bytes, plus the properties that must hold for every
/// input (`violated` traps, which libFuzzer records as a crash with the input that caused it).
public struct FuzzTarget: Sendable {
    public let name: String
    public let run: @Sendable ([UInt8]) -> Void

    /// Every target, by the name `make fuzz` uses (corpus directory fuzzing/corpus/<name>).
    public static let all: [FuzzTarget] = [
        FuzzTarget(name: "frame", run: FrameTarget.run),
        FuzzTarget(name: "envelope", run: EnvelopeTarget.run),
        FuzzTarget(name: "json", run: JSONTarget.run),
        FuzzTarget(name: "proposal", run: ProposalTarget.run),
        FuzzTarget(name: "link", run: LinkTarget.run),
        FuzzTarget(name: "policy", run: PolicyTarget.runYAML),
        FuzzTarget(name: "policy-canonical", run: PolicyTarget.runCanonical),
        FuzzTarget(name: "invariant", run: InvariantTarget.run),
        FuzzTarget(name: "audit", run: AuditTarget.run),
        FuzzTarget(name: "url", run: URLTarget.run),
    ]

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

/// A property the code under test broke: a finding, never an expected outcome.
func violated(_ what: String, _ input: [UInt8]) -> Never {
    let shown = input.prefix(256).map { b in b >= 0x20 && b < 0x7F ? String(UnicodeScalar(b)) : "\\x" + hex(b) }.joined()
    fatalError("fuzz property violated: \(what); input \(shown)")
}

func hex(_ b: UInt8) -> String {
    let d = Array("0123456789abcdef")
    return String([d[Int(b >> 4)], d[Int(b & 15)]])
}

/// Text inputs: bytes that are not UTF-8 are not text (the loaders take a String), so they are skipped.
func text(_ data: [UInt8]) -> String? { String(validating: data, as: UTF8.self) }
