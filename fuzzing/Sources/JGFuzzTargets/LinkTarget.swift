import JGIPC

/// Link message decoding: the first byte picks a link (sender, receiver), the rest is a sequence of
/// messages (2-byte length, body). Each goes through the link's permit table as the receiving end checks
/// it; the messages that carry a decision context are decoded as the prover and the broker decode them,
/// and whatever decodes must encode back to the very bytes received — a decoder that reads a value the
/// sender cannot have written (a wrapped pid, a clamped length) is a silent reinterpretation.
enum LinkTarget {
    static let sides: [LinkSide] = [.supervisor] + Component.allCases.map { .component($0) }

    static func run(_ data: [UInt8]) {
        guard let pick = data.first else { return }
        let pairs = sides.flatMap { f in sides.map { (f, $0) } }
        let (from, to) = pairs[Int(pick) % pairs.count]
        var permits = PermitChecker(from: from, to: to)
        var i = 1
        while data.count - i >= 2 {
            let n = Int(data[i]) << 8 | Int(data[i + 1])
            i += 2
            let body = Array(data[i..<min(data.count, i + n)])
            i += n
            guard var r = LinkReader(body: body) else { return }
            do { try permits.admit(r.type) } catch { return }
            if !decode(from: from, to: to, &r, body, data) { return }
        }
    }

    /// False when the message does not decode (the link would break).
    static func decode(from: LinkSide, to: LinkSide, _ r: inout LinkReader, _ body: [UInt8], _ input: [UInt8]) -> Bool {
        switch (from, to) {
        case (.component(.gate), .component(.prover)):
            guard GateToProver(rawValue: r.type) == .check, let ctx = DecisionContext.decode(from: &r), r.atEnd else { return false }
            var w = LinkWriter(type: r.type)
            ctx.encode(into: &w)
            if w.bytes != body { violated("check context does not encode back to its bytes", input) }
            return true
        case (.component(.prover), .component(.broker)):
            guard ProverToBroker(rawValue: r.type) == .decided, let d = ProverDecision.decode(from: &r),
                  let ctx = DecisionContext.decode(from: &r), r.atEnd else { return false }
            var w = LinkWriter(type: r.type)
            d.encode(into: &w)
            ctx.encode(into: &w)
            if w.bytes != body { violated("decided message does not encode back to its bytes", input) }
            return true
        default:
            // The other messages are read field by field in the components; the reader's primitives
            // must stay within the body whatever lengths it claims.
            var k = 0
            while !r.atEnd {
                k += 1
                switch k % 6 {
                case 0: guard r.string() != nil else { return false }
                case 1: guard r.strings() != nil else { return false }
                case 2: guard r.pairs() != nil else { return false }
                case 3: guard r.data() != nil else { return false }
                case 4: guard r.optString() != nil else { return false }
                default: guard r.u64() != nil else { return false }
                }
            }
            return true
        }
    }
}
