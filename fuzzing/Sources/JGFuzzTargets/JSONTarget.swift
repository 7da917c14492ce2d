import JGGateCore
import JGJSON

/// JSONParser: anything it accepts, JSONWriter writes back to text that parses to the same value and
/// is written the same again (the audit chain hashes written bytes; two spellings would fork it).
/// "The same value" for numbers is the same number: the writer prints integral doubles as integers on
/// purpose (JSONWriter.appendNumber), so `5.0` comes back as the integer 5 and `-0.0` as 0.
enum JSONTarget {
    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.number, _), (_, .number):
            guard let x = a.doubleValue, let y = b.doubleValue else { return false }
            return x == y
        case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && same($0.1, $1.1) }
        default: return a == b
        }
    }

    static func run(_ data: [UInt8]) {
        guard let v = try? JSONParser.parse(data) else { return }
        let out = JSONWriter.bytes(v)
        let again: JSONValue
        do { again = try JSONParser.parse(out) } catch { violated("written JSON does not parse: \(error)", data) }
        guard same(again, v) else { violated("written JSON parses to another value", data) }
        guard JSONWriter.bytes(again) == out else { violated("JSONWriter is not stable", data) }
    }
}

/// Envelope.parse on a whole frame body, then the proposal inside it, as the gate reads them.
enum EnvelopeTarget {
    static func run(_ data: [UInt8]) {
        guard let e = try? Envelope.parse(data) else { return }
        guard let v = try? JSONParser.parse(e.payload) else { return }
        _ = Proposal.claimedAgentID(v)
        _ = try? Proposal.parse(v)
    }
}

/// Proposal.parse on JSON text straight away (the fuzzer need not learn the envelope's escaping first).
enum ProposalTarget {
    static func run(_ data: [UInt8]) {
        guard let v = try? JSONParser.parse(data) else { return }
        _ = Proposal.claimedAgentID(v)
        guard let p = try? Proposal.parse(v) else { return }
        // PROTOCOL.md §3: the counter is an integer in 0…2^63−1 and a declared risk is within 0…100.
        if p.sequenceCounter > UInt64(Int64.max) { violated("sequence_counter above 2^63−1 accepted", data) }
        if let r = p.actionRiskScore, !(r >= 0 && r <= 100) { violated("action_risk_score \(r) accepted", data) }
        if p.contextVars.contains(where: { !$0.1.isFinite }) { violated("non-finite context var accepted", data) }
    }
}
