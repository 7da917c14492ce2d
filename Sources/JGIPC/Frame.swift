/// The 5-byte frame of PROTOCOL.md §2, used on the agent socket and on every internal link:
/// 4 bytes big-endian body length, 1 byte version (0x01), then the body.
public enum Frame {
    public static let headerSize = 5
    public static let version: UInt8 = 1
    public static let maxBody = 4 * 1024 * 1024

    @inlinable
    public static func encode(_ body: some Collection<UInt8>) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(headerSize + body.count)
        appendHeader(length: body.count, to: &out)
        out.append(contentsOf: body)
        return out
    }

    @inlinable
    public static func appendHeader(length: Int, to out: inout [UInt8]) {
        let n = UInt32(truncatingIfNeeded: length)
        out.append(UInt8(n >> 24)); out.append(UInt8((n >> 16) & 0xFF))
        out.append(UInt8((n >> 8) & 0xFF)); out.append(UInt8(n & 0xFF))
        out.append(version)
    }

    public enum HeaderCheck: Equatable, Sendable {
        case body(length: Int)
        case badVersion(UInt8)
        case tooLarge(UInt32)
    }

    /// Version first, then length — before a single byte of the body is reserved. Inlinable so that each
    /// caller gets a specialised copy: this runs once per frame on every link and agent socket.
    @inlinable
    public static func checkHeader(_ h: some RandomAccessCollection<UInt8>, maxBody: Int = maxBody) -> HeaderCheck {
        let i = h.startIndex
        func at(_ k: Int) -> UInt8 { h[h.index(i, offsetBy: k)] }
        let v = at(4)
        guard v == version else { return .badVersion(v) }
        let len = UInt32(at(0)) << 24 | UInt32(at(1)) << 16 | UInt32(at(2)) << 8 | UInt32(at(3))
        guard len <= UInt32(maxBody) else { return .tooLarge(len) }
        return .body(length: Int(len))
    }
}
