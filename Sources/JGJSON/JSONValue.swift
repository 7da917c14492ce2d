/// A parsed JSON value. Objects keep their keys in document order, because the audit format
/// and the duplicate-key rule both depend on the order in which keys were written.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// An integer literal (no fraction, no exponent) that fits in 64 bits, signed or unsigned.
    case integer(JSONInteger)
    /// Any other number literal; the literal text is kept for exact re-emission.
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.integer(x), .integer(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        guard case let .object(pairs) = self else { return nil }
        return pairs.first(where: { $0.0 == key })?.1
    }

    /// The numeric value of an integer or number literal.
    public var doubleValue: Double? {
        switch self {
        case let .integer(i): return i.doubleValue
        case let .number(d): return d
        default: return nil
        }
    }

    public var stringValue: String? {
        if case let .string(s) = self { return s }
        return nil
    }
}

/// Integers are kept exactly: `sequence_counter` spans 1 … 2^64−1, which a Double cannot hold.
public enum JSONInteger: Sendable, Equatable {
    case signed(Int64)
    case unsigned(UInt64)

    public var doubleValue: Double {
        switch self {
        case let .signed(v): return Double(v)
        case let .unsigned(v): return Double(v)
        }
    }

    public var uint64: UInt64? {
        switch self {
        case let .signed(v): return v >= 0 ? UInt64(v) : nil
        case let .unsigned(v): return v
        }
    }
}
