import Glibc

/// An IPv4 or IPv6 address block, `a.b.c.d/n`, `x::y/n` or a single address. IPv4 blocks are also
/// matched in their IPv4-mapped IPv6 form (`::ffff:a.b.c.d`), so a program cannot slip past them over AF_INET6.
public struct CIDR: Sendable, Equatable {
    /// 4 or 16 bytes.
    public var address: [UInt8]
    public var prefix: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let host = String(parts[0])
        var a4 = in_addr()
        var a6 = in6_addr()
        if inet_pton(AF_INET, host, &a4) == 1 {
            address = withUnsafeBytes(of: &a4) { Array($0) }
        } else if inet_pton(AF_INET6, host, &a6) == 1 {
            address = withUnsafeBytes(of: &a6) { Array($0) }
        } else {
            return nil
        }
        let maxPrefix = address.count * 8
        if parts.count == 2 {
            guard let p = Int(parts[1]), p >= 0, p <= maxPrefix else { return nil }
            prefix = p
        } else {
            prefix = maxPrefix
        }
    }

    /// The same block in IPv4-mapped IPv6 form (IPv4 blocks only).
    public var mappedIPv6: CIDR? {
        guard address.count == 4 else { return nil }
        var c = self
        c.address = [UInt8](repeating: 0, count: 10) + [0xff, 0xff] + address
        c.prefix = prefix + 96
        return c
    }

    public func contains(_ bytes: [UInt8]) -> Bool {
        guard bytes.count == address.count else { return false }
        var bits = prefix
        for i in 0..<bytes.count where bits > 0 {
            let take = min(8, bits)
            let mask: UInt8 = take == 8 ? 0xff : ~(0xff >> UInt8(take))
            if bytes[i] & mask != address[i] & mask { return false }
            bits -= take
        }
        return true
    }
}
