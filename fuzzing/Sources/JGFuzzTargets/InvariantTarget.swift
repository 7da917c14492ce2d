import JGPolicy

/// The invariant parser: what parses prints (description) as text that parses to the same expression.
enum InvariantTarget {
    static func run(_ data: [UInt8]) {
        guard let t = text(data), let e = try? InvariantParser.parse(t) else { return }
        let again: InvariantExpr
        do { again = try InvariantParser.parse(e.description) } catch {
            violated("canonical text \"\(e.description)\" does not parse: \(error.reason)", data)
        }
        guard again == e else { violated("canonical text \"\(e.description)\" parses to another expression", data) }
    }
}
