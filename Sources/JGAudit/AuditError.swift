
import Glibc



/// One error type for every audit failure, carrying errno so the operator sees the kernel's reason
/// (ENOSPC, EIO, …) and not a paraphrase of it.
public struct AuditError: Error, Sendable, CustomStringConvertible, Equatable {
    public var operation: String
    public var errno: Int32
    public var detail: String

    public init(operation: String, errno: Int32, detail: String) {
        self.operation = operation
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        guard errno != 0 else { return "audit \(operation): \(detail)" }
        return "audit \(operation): \(detail) (errno \(errno): \(String(cString: strerror(errno))))"
    }
}
