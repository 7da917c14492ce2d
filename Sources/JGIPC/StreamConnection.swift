import Glibc

/// A non-blocking stream socket with its own input and output buffers. The event loop reads into it;
/// framing is left to the caller so that the agent socket and the links share one I/O path.
public final class StreamConnection {
    public let fd: OwnedFD
    public private(set) var input: [UInt8] = []
    private var inputStart = 0
    private var output: [UInt8] = []
    private var outputStart = 0
    public var peerClosed = false

    public init(fd: OwnedFD) throws(SystemError) {
        self.fd = fd
        try fd.setNonBlocking()
    }

    /// For a descriptor that is already non-blocking (accept4 with SOCK_NONBLOCK): no fcntl calls.
    public init(nonBlocking fd: OwnedFD) {
        self.fd = fd
    }

    public enum ReadResult { case data, eof, wouldBlock, failed(SystemError) }

    /// One read buffer for the process: every StreamConnection lives on its process's single epoll thread
    /// (gate, broker, supervisor's metrics), so reads never overlap; it saves a 256 KiB buffer per connection.
    nonisolated(unsafe) static var scratch = [UInt8](repeating: 0, count: 256 * 1024)

    /// Reads what is available, up to `limit` buffered bytes (back-pressure: the caller stops polling for
    /// input while a full frame is pending).
    public func readAvailable(limit: Int) -> ReadResult {
        compactInput()
        let room = limit - bufferedCount
        guard room > 0 else { return .data }
        let chunk = min(room, Self.scratch.count)
        // One scratch buffer per process (every component is single-threaded): no per-read zero-fill of the
        // input, and idle connections hold no read buffer of their own.
        let n = Self.scratch.withUnsafeMutableBytes { p in
            retryOnInterrupt { Glibc.read(fd.raw, p.baseAddress!, chunk) }
        }
        if n > 0 {
            input.append(contentsOf: Self.scratch[0..<n])
            lastReadDrained = n < chunk
            return .data
        }
        if n == 0 { peerClosed = true; return .eof }
        if errno == EAGAIN || errno == EWOULDBLOCK { return .wouldBlock }
        return .failed(SystemError("read"))
    }

    /// The last read returned less than it asked for, so the socket held no more at that moment: a
    /// level-triggered loop can wait for the next readiness instead of reading again only to get EAGAIN.
    public private(set) var lastReadDrained = false

    public var bufferedCount: Int { input.count - inputStart }

    public func peek(_ n: Int) -> ArraySlice<UInt8>? {
        guard bufferedCount >= n else { return nil }
        return input[inputStart..<inputStart + n]
    }

    public func consume(_ n: Int) -> [UInt8] {
        let out = Array(input[inputStart..<inputStart + n])
        inputStart += n
        return out
    }

    public func discard(_ n: Int) { inputStart += n }

    private func compactInput() {
        if inputStart > 0 && (inputStart >= input.count || inputStart > 64 * 1024) {
            input.removeFirst(inputStart)
            inputStart = 0
        }
    }

    /// Takes one complete frame (header checked) off the input, or nil when more bytes are needed.
    /// Links allow bodies up to `maxBody`; a bad header breaks the link.
    public func nextFrame(maxBody: Int) throws(LinkProtocolError) -> [UInt8]? {
        guard let h = peek(Frame.headerSize) else { return nil }
        switch Frame.checkHeader(h, maxBody: maxBody) {
        case let .body(length):
            guard bufferedCount >= Frame.headerSize + length else { return nil }
            discard(Frame.headerSize)
            return consume(length)
        case let .badVersion(v): throw LinkProtocolError(link: "frame", reason: "bad version \(v)")
        case let .tooLarge(n): throw LinkProtocolError(link: "frame", reason: "frame of \(n) bytes")
        }
    }

    public var hasPendingOutput: Bool { output.count > outputStart }
    public var pendingOutputCount: Int { output.count - outputStart }

    /// Queues bytes and tries to write them now. Returns false when the peer is gone.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        if !hasPendingOutput {
            // Fast path: one write of the whole message (clients read a reply header with one recv).
            let n = bytes.withUnsafeBytes { p in retryOnInterrupt { Glibc.send(fd.raw, p.baseAddress, p.count, Int32(MSG_NOSIGNAL)) } }
            if n == bytes.count { return true }
            if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK { return false }
            output.append(contentsOf: bytes[max(n, 0)...])
            return true
        }
        output.append(contentsOf: bytes)
        return flush()
    }

    /// Adds bytes to the output without writing (see `flush`).
    public func queue(_ bytes: [UInt8]) { output.append(contentsOf: bytes) }

    /// Adds one frame (header and `body`) to the output without writing, and without building the
    /// frame in a buffer of its own first.
    public func queueFrame(body: [UInt8]) {
        output.reserveCapacity(output.count + Frame.headerSize + body.count)
        Frame.appendHeader(length: body.count, to: &output)
        output.append(contentsOf: body)
    }

    /// Writes as much queued output as the socket takes. Returns false when the peer is gone.
    @discardableResult
    public func flush() -> Bool {
        while hasPendingOutput {
            let n = output.withUnsafeBytes { p in
                retryOnInterrupt { Glibc.send(fd.raw, p.baseAddress! + outputStart, output.count - outputStart, Int32(MSG_NOSIGNAL)) }
            }
            if n > 0 { outputStart += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            return false
        }
        if outputStart == output.count { output.removeAll(keepingCapacity: output.count < 1 << 20); outputStart = 0 }
        return true
    }
}
