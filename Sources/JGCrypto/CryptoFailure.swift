import Glibc
import JGIPC

/// libcrypto reported a failure (the COpenSSL shim's −1): an allocation or a provider that failed.
public struct CryptoFailure: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public init(operation: String) { self.operation = operation }
    public var description: String { "libcrypto: \(operation) failed" }

    /// For digests that every decision and audit line depends on: one line and a non-zero exit (the
    /// supervisor restarts the component, or the command fails) — a digest of zeros taken for a real
    /// one would verify signatures and chain entries that are not what they claim.
    public func fatal() -> Never {
        Log.error("\(description); exiting")
        exit(70)
    }
}
