import JGIPC


/// Each agent's tools run under a uid of their own, taken from a reserved range (never 0, never nobody,
/// never a uid named in the account database, which holds the components' users) and persisted in the
/// state directory so that the ownership of a workspace stays the same across restarts.
public struct ToolAccounts: Sendable, Equatable {
    public static let defaultRange: ClosedRange<UInt32> = 1_600_000_000...1_600_065_535

    public var range: ClosedRange<UInt32>
    /// Agent directory name → uid (the gid is the same number).
    public private(set) var uids: [String: UInt32] = [:]

    public struct Error: Swift.Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public init(range: ClosedRange<UInt32>) { self.range = range }

    /// `<first>-<last>`, e.g. `1600000000-1600065535`.
    public static func parseRange(_ s: String) throws(Error) -> ClosedRange<UInt32> {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let lo = UInt32(parts[0]), let hi = UInt32(parts[1]), lo > 0, lo <= hi, hi < UInt32.max,
              !(lo...hi).contains(65534) else {
            throw Error(description: "tool uid range must be <first>-<last>, above 0 and without 65534 (nobody), got '\(s)'")
        }
        return lo...hi
    }

    /// The persisted form: one `<uid> <name>` line per agent. Entries outside the range are refused, so a
    /// changed range never silently hands an old uid's files to someone else.
    public init(range: ClosedRange<UInt32>, persisted text: String) throws(Error) {
        self.range = range
        for line in text.split(separator: "\n") where !line.isEmpty {
            let f = line.split(separator: " ")
            guard f.count == 2, let uid = UInt32(f[0]), range.contains(uid), AgentDirectory.isPlainName(String(f[1])) else {
                throw Error(description: "bad tool uid entry '\(line)' (range \(range.lowerBound)-\(range.upperBound))")
            }
            guard uids[String(f[1])] == nil, !uids.values.contains(uid) else { throw Error(description: "duplicate tool uid entry '\(line)'") }
            uids[String(f[1])] = uid
        }
    }

    public var persisted: String {
        uids.sorted { $0.value < $1.value }.map { "\($0.value) \($0.key)\n" }.joined()
    }

    /// The agent's uid, allocated (lowest free in the range, skipping `taken`) on first use.
    public mutating func uid(for name: String, taken: Set<UInt32>) throws(Error) -> UInt32 {
        if let u = uids[name] { return u }
        let used = Set(uids.values)
        var u = range.lowerBound
        while true {
            if !used.contains(u) && !taken.contains(u) && u != 65534 && u != 0 { break }
            guard u < range.upperBound else { throw Error(description: "tool uid range \(range.lowerBound)-\(range.upperBound) is exhausted") }
            u += 1
        }
        uids[name] = u
        return u
    }

}
