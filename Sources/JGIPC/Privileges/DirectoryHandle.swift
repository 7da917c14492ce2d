/// A directory known by its name and reached through a descriptor the process holds.
///
/// The components run as their own users, and the directory the operator chose for the state may sit
/// below directories they cannot search (a clone in root's 0700 home). Loosening those would open the
/// operator's files to every user; instead the supervisor (root) opens the directory with
/// O_PATH|O_DIRECTORY and hands the descriptor over at a fixed number. `/proc/self/fd/N` is a magic link:
/// resolving it jumps to the directory itself, so nothing above it is searched (only the process's own
/// /proc entry is checked, which is always its own). The name stays what is shown and compared: audit
/// records, messages, the kernel-plane instance, the paths agents give.
public struct DirectoryHandle: Sendable, Equatable {
    /// The directory's real path: what it is called.
    public var name: String
    /// How this process reaches it.
    public var access: String

    /// jg-broker's state directory and, when the audit log lives elsewhere, the audit log's directory.
    public static let brokerStateFD: Int32 = 6
    public static let brokerAuditFD: Int32 = 7

    public init(name: String, access: String) {
        self.name = name
        self.access = access
    }

    /// `name` reached through the descriptor `fd` of this process.
    public init(name: String, fd: Int32) { self.init(name: name, access: "/proc/self/fd/\(fd)") }

    /// Reached by its name (nothing to get around).
    public init(name: String) { self.init(name: name, access: name) }

    /// The entry `relative` below it (no leading slash).
    public func child(_ relative: String) -> DirectoryHandle {
        DirectoryHandle(name: name + "/" + relative, access: access + "/" + relative)
    }

    /// The name of a path this process reached through `access` (itself when it is not below it).
    public func name(ofAccess path: String) -> String {
        if path == access { return name }
        return path.hasPrefix(access + "/") ? name + path.dropFirst(access.count) : path
    }

    /// The access path of a path named below `name` (nil when it is not below it).
    public func access(ofName path: String) -> String? {
        if path == name { return access }
        return path.hasPrefix(name + "/") ? access + path.dropFirst(name.count) : nil
    }

    /// A message that may mention access paths, with the names in their place.
    public func naming(_ text: String) -> String { access == name ? text : Self.replacing(access, with: name, in: text) }

    /// Every occurrence of `target` in `text` replaced (byte-wise: both are UTF-8). Written here rather than
    /// with `String.replacing`, which would link _StringProcessing and its regex parser (about 1 MiB
    /// resident) into every component for this one call.
    static func replacing(_ target: String, with replacement: String, in text: String) -> String {
        let t = Array(target.utf8), s = Array(text.utf8)
        guard !t.isEmpty, s.count >= t.count else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            if i + t.count <= s.count && s[i..<(i + t.count)].elementsEqual(t) {
                out.append(contentsOf: replacement.utf8)
                i += t.count
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
