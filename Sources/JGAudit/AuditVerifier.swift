import Glibc
import JGJSON

public struct AuditVerifyResult: Sendable, Equatable {
    public var ok: Bool
    /// Entries that verified before the first failure (all of them when ok).
    public var entries: UInt64
    /// 1-based line of the first failure; for truncation, the first line that should exist but does not.
    public var firstBadLine: Int?
    public var reason: String?
    /// Highest `last_index` attested in `<path>.manifests`, if any.
    public var attestedLastIndex: UInt64?

    public init(ok: Bool, entries: UInt64, firstBadLine: Int? = nil, reason: String? = nil, attestedLastIndex: UInt64? = nil) {
        self.ok = ok
        self.entries = entries
        self.firstBadLine = firstBadLine
        self.reason = reason
        self.attestedLastIndex = attestedLastIndex
    }
}

public enum AuditVerifier {
    /// Whole-log check per PROTOCOL.md §8, plus truncation against `<path>.manifests`. Checkpoint
    /// signatures are not checked here (that needs the public key); a checkpoint that names a
    /// `last_hash` is compared with the chain.
    public static func verify(path: String) -> AuditVerifyResult {
        let manifestBytes: [UInt8]?
        do { manifestBytes = try FileIO.readAll(path: path + ".manifests", op: "verify") } catch {
            // No manifests is legal (nothing attested yet); any other error must not pass as "nothing attested".
            guard error.errno == ENOENT else { return AuditVerifyResult(ok: false, entries: 0, reason: error.description) }
            manifestBytes = nil
        }
        let manifest: Manifest
        switch parseManifest(manifestBytes ?? []) {
        case let .success(m): manifest = m
        case let .failure(e): return AuditVerifyResult(ok: false, entries: 0, reason: e.reason)
        }
        let data: [UInt8]
        do { data = try FileIO.readAll(path: path, op: "verify") } catch {
            return AuditVerifyResult(ok: false, entries: 0, reason: error.description, attestedLastIndex: manifest.highest)
        }
        return verify(log: data, manifest: manifest)
    }

    /// The same check over bytes already read (`manifests` empty when there are none): what the fuzz
    /// target drives, so that it runs exactly the verifier's code without a file system.
    public static func verify(log: [UInt8], manifests: [UInt8]) -> AuditVerifyResult {
        switch parseManifest(manifests) {
        case let .success(m): return verify(log: log, manifest: m)
        case let .failure(e): return AuditVerifyResult(ok: false, entries: 0, reason: e.reason)
        }
    }

    static func verify(log data: [UInt8], manifest: Manifest) -> AuditVerifyResult {
        func fail(_ line: Int, _ entries: UInt64, _ reason: String) -> AuditVerifyResult {
            AuditVerifyResult(ok: false, entries: entries, firstBadLine: line, reason: reason, attestedLastIndex: manifest.highest)
        }

        var expectedIndex: UInt64 = 0
        var prev = AuditLine.zeroHash
        var lineNo = 0
        var start = data.startIndex
        while start < data.endIndex {
            lineNo += 1
            guard let nl = data[start...].firstIndex(of: UInt8(ascii: "\n")) else {
                return fail(lineNo, expectedIndex, "last line has no terminating newline (torn tail)")
            }
            let line = data[start..<nl]
            start = nl + 1
            let s: AuditLine.Scanned
            switch AuditLine.scan(line) {
            case let .success(v): s = v
            case let .failure(e): return fail(lineNo, expectedIndex, e.reason)
            }
            guard s.index == expectedIndex else {
                return fail(lineNo, expectedIndex, "index \(s.index), expected \(expectedIndex)")
            }
            guard s.prevHash == prev else {
                return fail(lineNo, expectedIndex, "prev_hash does not match the hash of the previous entry")
            }
            if s.index == 0, let problem = AuditLine.bootMarkerProblem(s.value) {
                return fail(lineNo, expectedIndex, "entry 0 is not a boot marker: \(problem)")
            }
            if let attested = manifest.hashes[s.index], attested != s.hash {
                return fail(lineNo, expectedIndex, "hash differs from the one attested in the manifests for index \(s.index)")
            }
            prev = s.hash
            expectedIndex += 1
        }

        if let highest = manifest.highest, expectedIndex <= highest {
            return fail(Int(expectedIndex) + 1, expectedIndex,
                        "truncated: log ends at \(expectedIndex) entries but the manifests attest last_index \(highest)")
        }
        return AuditVerifyResult(ok: true, entries: expectedIndex, attestedLastIndex: manifest.highest)
    }

    struct Manifest {
        var highest: UInt64?
        var hashes: [UInt64: String] = [:]
    }

    static func parseManifest(_ data: [UInt8]) -> Result<Manifest, ScanError> {
        var m = Manifest()
        var n = 0
        for raw in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            n += 1
            if raw.isEmpty { continue }
            let v: JSONValue
            do { v = try JSONParser.parse(raw) } catch { return .failure(ScanError("manifests line \(n): \(error)")) }
            guard let cp = v["checkpoint"], case let .integer(i)? = cp["last_index"], let last = i.uint64 else {
                return .failure(ScanError("manifests line \(n): no checkpoint.last_index"))
            }
            m.highest = max(m.highest ?? 0, last)
            if let h = cp["last_hash"]?.stringValue {
                if let other = m.hashes[last], other != h {
                    return .failure(ScanError("manifests line \(n): conflicting last_hash for index \(last)"))
                }
                m.hashes[last] = h
            }
        }
        return .success(m)
    }
}
