// Stage microbenchmarks: the daemon's own library code (symlinked sources, release build), timed with
// clock_gettime loops. One JSON line per stage on stdout: {"stage":…,"n":…,"p50_ns":…,"p99_ns":…,"mean_ns":…}.
// usage: jg-stage-bench AUDIT_FILE_ON_THE_DAEMONS_FILESYSTEM
import Glibc
import JGAudit
import JGBrokerCore
import JGCrypto
import JGGateCore
import JGIPC
import JGJSON
import JGPolicy
import JGPolicyYAML

@inline(never) func blackHole<T>(_ x: T) { withExtendedLifetime(x) {} }

func nowNS() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Times `body` in batches of `inner` calls, `outer` times; reports per-call figures.
func measure(_ name: String, note: String = "", outer: Int = 2000, inner: Int = 10, _ body: () -> Void) {
    for _ in 0..<max(1, outer / 10) { body() } // warm-up
    var samples: [Double] = []
    samples.reserveCapacity(outer)
    for _ in 0..<outer {
        let t0 = nowNS()
        for _ in 0..<inner { body() }
        samples.append(Double(nowNS() - t0) / Double(inner))
    }
    samples.sort()
    let mean = samples.reduce(0, +) / Double(samples.count)
    func p(_ q: Double) -> Double { samples[min(samples.count - 1, Int(q * Double(samples.count)))] }
    print("{\"stage\":\"\(name)\",\"n\":\(outer * inner),\"p50_ns\":\(Int(p(0.5))),\"p99_ns\":\(Int(p(0.99))),\"mean_ns\":\(Int(mean)),\"note\":\"\(note)\"}")
}

let args = CommandLine.arguments
let auditPath = args.count > 1 ? args[1] : "/tmp/jg-stage-bench-audit.jsonl"

// A request as the load generator sends it (PROTOCOL.md §3-§4).
let key = Array("bench-0123456789abcdef0123456789abcdef".utf8)
let payload = "{\"intent_name\":\"read_customer_record\",\"agent_id\":\"bench_agent_000\",\"sequence_counter\":1764180000000000001,\"action_risk_score\":10}"
let signature = Digest.hex(Digest.hmacSHA256(key: key, message: Array(payload.utf8)))
let envelopeText = JSONWriter.write(.object([("payload", .string(payload)), ("signature", .string(signature))]))
let body = Array(envelopeText.utf8)
let wire = Frame.encode(body)

// Framing: encode a reply, check a request header, take the body off the buffer (the Array copies the
// gate makes per frame).
measure("framing: Frame.encode(221-byte body)") { blackHole(Frame.encode(body)) }
measure("framing: checkHeader + body copy") {
    if case let .body(n) = Frame.checkHeader(wire[0..<5]) { blackHole(Array(wire[5..<(5 + n)])) }
}

// JSON.
measure("JSON: Envelope.parse (frame body)") { blackHole(try? Envelope.parse(body)) }
measure("JSON: JSONParser.parse (payload)") { blackHole(try? JSONParser.parse(payload)) }
let payloadValue = try! JSONParser.parse(payload)
measure("JSON: Proposal.parse (typed fields)") { blackHole(try? Proposal.parse(payloadValue)) }

// HMAC.
let keys = KeySet(current: [key])
measure("HMAC: Digest.hmacSHA256 (payload)") { blackHole(Digest.hmacSHA256(key: key, message: Array(payload.utf8))) }
measure("HMAC: KeySet.verify (hex, constant-time compare)") {
    blackHole(keys.verify(payload: payload, signature: signature, claimedAgent: "bench_agent_000", now: 1))
}
measure("SHA-256: payload digest (hex)") { blackHole(Digest.sha256Hex(payload)) }

// Scoring.
let proposal = try! Proposal.parse(payloadValue)
let me = PeerCredentials(pid: getpid(), uid: getuid(), gid: getgid())
let observation = PeerObservation.observe(me)
measure("scoring: RiskScorer.score") { blackHole(RiskScorer.score(proposal, observation: observation)) }
measure("scoring: PeerObservation.observe (/proc reads)", outer: 500) { blackHole(PeerObservation.observe(me)) }

// The whole gate decision (steps 1-14) with an in-memory lineage, /proc observation stubbed.
var policyText = """
global_safety_ceiling: 90.0
deny_anonymous_agents: true
canary_resources: ["canary_decoy_a91f"]
enforcement_scope: {governed_path_prefixes: []}
runtime_policy: {deny_root_peers: false, allowed_peer_uids: [], require_brokered_execution: false, require_sandbox_namespace: false}
agent_nodes:

"""
for i in 0..<256 {
    policyText += """
      - id: bench_agent_\(i < 10 ? "00" : i < 100 ? "0" : "")\(i)
        privilege_tier: 1
        allowed_peer_uids: []
        allowed_intents: [read_customer_record, summarize_claim, list_claims]
        allowed_executables: []
        max_sequence_quota: 0
        invariants: []

    """
}
do {
    let policy = try PolicyLoader.load(text: policyText, sourceName: "bench")
    let decider = GateDecider(policy: policy, keys: keys, lineage: LineageStore(file: nil))
    var seq: UInt64 = 1_764_180_000_000_000_000
    var bodies: [[UInt8]] = []
    for _ in 0..<30_000 {
        seq += 1
        let p = "{\"intent_name\":\"read_customer_record\",\"agent_id\":\"bench_agent_000\",\"sequence_counter\":\(seq),\"action_risk_score\":10}"
        let s = Digest.hex(Digest.hmacSHA256(key: key, message: Array(p.utf8)))
        bodies.append(Array(JSONWriter.write(.object([("payload", .string(p)), ("signature", .string(s))])).utf8))
    }
    var next = 0
    var forwarded = 0
    var lastCtx = DecisionContext()
    measure("gate: GateDecider.evaluate (steps 1-14, ALLOW path, /proc stubbed)", outer: 2500, inner: 10) {
        let b = bodies[next]
        next += 1
        if case let .forward(ctx) = decider.evaluate(body: b, peer: me, now: 1, observe: { _ in observation }) {
            forwarded += 1
            lastCtx = ctx
        }
    }
    if forwarded != 25_000 + 250 { print("{\"stage\":\"gate: GateDecider.evaluate\",\"error\":\"only \(forwarded) forwarded\"}") }

    // Link encoding/decoding of the decision context (gate→prover→broker).
    measure("framing: DecisionContext encode + LinkWriter.frame") {
        var w = LinkWriter(type: 1)
        lastCtx.encode(into: &w)
        blackHole(w.frame)
    }
    var w = LinkWriter(type: 1)
    lastCtx.encode(into: &w)
    let linkBody = w.bytes
    measure("framing: DecisionContext decode") {
        var r = LinkReader(body: linkBody)!
        blackHole(DecisionContext.decode(from: &r))
    }

    // Audit: the record, its line and hash, then the append (tmpfs: no device flush; the daemon's file
    // system: with fdatasync).
    measure("audit: AuditRecords.decision (record objects)") {
        blackHole(AuditRecords.decision(lastCtx, token: "ALLOW", reason: "within ceiling", stage: "prover"))
    }
    let parts = AuditRecords.decision(lastCtx, token: "ALLOW", reason: "within ceiling", stage: "prover")
    func appendBench(_ path: String, _ label: String, batch: Int, outer: Int) {
        unlink(path)
        guard let log = try? AuditLog(path: path), (try? log.appendBoot()) != nil else {
            print("{\"stage\":\"\(label)\",\"error\":\"cannot open \(path)\"}")
            return
        }
        let entries = Array(repeating: parts, count: batch)
        measure(label, note: "per call of \(batch) entr\(batch == 1 ? "y" : "ies")", outer: outer, inner: 1) {
            blackHole(try? log.append(entries, timestamp: 1_764_180_000))
        }
        var st = stat()
        if stat(path, &st) == 0, log.nextIndex > 1 {
            print("{\"stage\":\"\(label): line size\",\"bytes_per_entry\":\(Int(st.st_size) / Int(log.nextIndex))}")
        }
        log.close()
        unlink(path)
    }
    let shm = "/dev/shm/jg-stage-bench-\(getpid()).jsonl"
    appendBench(shm, "audit: AuditLog.append 1 entry (tmpfs: line+hash+write, fdatasync no-op)", batch: 1, outer: 5000)
    appendBench(auditPath, "audit: AuditLog.append 1 entry (durable: + fdatasync)", batch: 1, outer: 2000)
    appendBench(auditPath, "audit: AuditLog.append 64 entries (durable, one fdatasync)", batch: 64, outer: 300)
} catch {
    print("{\"stage\":\"gate: GateDecider.evaluate\",\"error\":\"policy: \(error)\"}")
}
