// Stage microbenchmarks: the daemon's own library code (symlinked sources, release build), measured with
// google/swift-benchmark. Run by bench/run_bench.py as
//   JG_STAGE_AUDIT_FILE=<file on the audit log's file system> jg-stage-bench --format json --time-unit ns \
//       --columns name,median,p99,avg,iterations
// Stages named "… [×N]" time N calls per iteration (too short to time one by one); run_bench.py divides.
// Facts that are not timings (audit line size, a stage that failed) go to stderr as one JSON line each.
import Benchmark
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

func fact(_ json: String) { fputs(json + "\n", stderr) }

/// `inner` calls per measured iteration; `iterations` measured iterations after a warm-up.
func measure(_ name: String, iterations: Int = 2000, inner: Int = 10, _ body: @escaping () -> Void) {
    let label = inner == 1 ? name : "\(name) [×\(inner)]"
    benchmark(label, settings: Iterations(iterations), WarmupIterations(max(1, iterations / 10))) {
        for _ in 0..<inner { body() }
    }
}

var forwarded = 0
var scratchFiles: [String] = []
/// Run after the benchmarks (their closures run in Benchmark.main(), after registration).
var cleanups: [() -> Void] = []
let auditPath = getenv("JG_STAGE_AUDIT_FILE").map { String(cString: $0) } ?? "/tmp/jg-stage-bench-audit.jsonl"

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
measure("scoring: PeerObservation.observe (/proc reads)", iterations: 500) { blackHole(PeerObservation.observe(me)) }

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
    var lastCtx = DecisionContext()
    // Each request is fresh (its own sequence counter), so the replay check passes and the ALLOW path runs.
    if case let .forward(ctx) = decider.evaluate(body: bodies[next], peer: me, now: 1, observe: { _ in observation }) {
        lastCtx = ctx
    }
    next += 1
    measure("gate: GateDecider.evaluate (steps 1-14, ALLOW path, /proc stubbed)", iterations: 2500, inner: 10) {
        guard next < bodies.count else { return }
        let b = bodies[next]
        next += 1
        if case .forward = decider.evaluate(body: b, peer: me, now: 1, observe: { _ in observation }) { forwarded += 1 }
    }

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
    var jsonOut: [UInt8] = []
    measure("audit: JSONWriter.write(into:) of one record's four objects (reused buffer)") {
        jsonOut.removeAll(keepingCapacity: true)
        for v in [parts.observation, parts.intent, parts.assessment, parts.decision] { JSONWriter.write(v, into: &jsonOut) }
        blackHole(jsonOut)
    }
    func appendBench(_ path: String, _ label: String, batch: Int, iterations: Int) {
        unlink(path)
        guard let log = try? AuditLog(path: path), (try? log.appendBoot()) != nil else {
            fact("{\"stage\":\"\(label)\",\"error\":\"cannot open \(path)\"}")
            return
        }
        let entries = Array(repeating: parts, count: batch)
        // The line size, from one batch written before the benchmark runs.
        var st = stat()
        let before = stat(path, &st) == 0 ? Int(st.st_size) : 0
        _ = try? log.append(entries, timestamp: 1_764_180_000)
        if stat(path, &st) == 0 { fact("{\"stage\":\"\(label): line size\",\"bytes_per_entry\":\((Int(st.st_size) - before) / batch)}") }
        benchmark(label, settings: Iterations(iterations), WarmupIterations(max(1, iterations / 20))) {
            blackHole(try? log.append(entries, timestamp: 1_764_180_000))
        }
    }
    let shm = "/dev/shm/jg-stage-bench-\(getpid()).jsonl"

    // The broker's per-decision audit work as BrokerServer.commit does it for a batch of 64 decisions:
    // seal the personal data, build the record, then one append (tmpfs, so without the device flush).
    func brokerBatchBench(_ label: String, batch: Int, iterations: Int) {
        let path = "/dev/shm/jg-stage-bench-broker-\(getpid()).jsonl"
        unlink(path)
        guard let log = try? AuditLog(path: path), (try? log.appendBoot()) != nil,
              let store = try? SealedStore(auditLogPath: path) else {
            fact("{\"stage\":\"\(label)\",\"error\":\"cannot open \(path)\"}")
            return
        }
        var ctx = lastCtx
        benchmark(label, settings: Iterations(iterations), WarmupIterations(max(1, iterations / 20))) {
            var entries: [AuditEntryParts] = []
            for _ in 0..<batch {
                ctx.requestID += 1
                let subject = AuditRecords.subject(ctx)
                guard let commitment = try? store.seal(subject: subject, reference: "request:\(ctx.requestID)",
                                                       fields: AuditRecords.personalData(ctx)),
                      let pseudonym = try? store.pseudonym(subject) else { return }
                entries.append(AuditRecords.decision(ctx, token: "ALLOW", reason: "within ceiling", stage: "prover",
                                                     sealed: (pseudonym, commitment)))
            }
            try? store.flush()
            blackHole(try? log.append(entries, timestamp: 1_764_180_000))
        }
        let subject = AuditRecords.subject(lastCtx)
        cleanups.append {
            log.close()
            unlink(path)
            _ = SealedStore.erase(auditLogPath: path, subject: subject)
            for d in ["/keys", "/data", ""] { rmdir(path + ".sealed" + d) }
        }
    }
    brokerBatchBench("broker: 64 decisions (seal + record + append, tmpfs) (per call of 64 decisions)", batch: 64, iterations: 300)
    do {
        let path = "/dev/shm/jg-stage-bench-seal-\(getpid()).jsonl"
        if let store = try? SealedStore(auditLogPath: path) {
            let fields = AuditRecords.personalData(lastCtx)
            var id: UInt64 = 0
            measure("broker: SealedStore.seal (personal data of one decision, tmpfs)") {
                id += 1
                blackHole(try? store.seal(subject: "uid:1", reference: "request:\(id)", fields: fields))
                if id % 64 == 0 { try? store.flush() }
            }
            cleanups.append {
                try? store.flush()
                _ = SealedStore.erase(auditLogPath: path, subject: "uid:1")
                for d in ["/keys", "/data", ""] { rmdir(path + ".sealed" + d) }
            }
        }
    }

    appendBench(shm, "audit: AuditLog.append 1 entry (tmpfs: line+hash+write, fdatasync no-op)", batch: 1, iterations: 5000)
    appendBench(auditPath + ".1", "audit: AuditLog.append 1 entry (durable: + fdatasync)", batch: 1, iterations: 2000)
    appendBench(auditPath + ".64", "audit: AuditLog.append 64 entries (durable, one fdatasync) (per call of 64 entries)", batch: 64, iterations: 300)
    scratchFiles = [shm, auditPath + ".1", auditPath + ".64"]
} catch {
    fact("{\"stage\":\"gate: GateDecider.evaluate\",\"error\":\"policy: \(error)\"}")
}

Benchmark.main()
if forwarded == 0 { fact("{\"stage\":\"gate: GateDecider.evaluate\",\"error\":\"no request was forwarded\"}") }
for f in scratchFiles { unlink(f) }
for c in cleanups { c() }
