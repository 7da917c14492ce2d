/// The enumerated message sets of every link (the OpenSSH monitor's request table, one per link and
/// direction). A type not listed for a link and direction breaks that link.
public enum Component: String, Sendable, CaseIterable {
    case gate = "jg-gate"
    case prover = "jg-prover"
    case kernel = "jg-kernel"
    case broker = "jg-broker"
}

/// Supervisor → component, on the control link (fd 3 of every component).
public enum ControlRequest: UInt8, Sendable {
    /// policy (canonical JSON, JGPolicy.CanonicalPolicy), component settings (JSON text)
    case configure = 1
    /// peer component name; one descriptor attached (the link's end)
    case link = 2
    /// nonce (u64) → `pong` with the same nonce, answered from the component's own event loop
    case ping = 3
    /// gate only: request id (u64), pid (i64), start time (u64), executable (opt string), pid namespace
    /// (opt string), in another pid namespace than the supervisor (bool): the answer to `observePeer`
    case peerObservation = 4
    /// → jg-gate: tag (u64), agent id (string): an operator's `jinnguard agent reset-counter`; answered by `counterReset`
    case resetCounter = 5
    /// → jg-gate: phase (u32): 0 = a fresh empty journal file is attached (write the snapshot there),
    /// 1 = it was renamed over the journal, 2 = the rename failed (keep the old journal)
    case lineageCompact = 6
    /// → jg-broker: kind (string), agent id (string), details (JSON object text): an audit record of the supervisor's
    case auditEvent = 7
    /// rendezvous only (systemd, before the control link is up): target descriptor number (u32, 4–7);
    /// one descriptor attached, which the component puts at that number
    case handoff = 20
    /// rendezvous only: (no fields) the handoff is complete; the connection is the control link from now on
    case handoffDone = 21
    /// → jg-broker: tag (u64), hold id (string), approve (bool), operator uid (u32), operator pid (i64): an operator's
    /// `jinnguard approve|reject`; answered by `holdDecided`
    case holdDecision = 50
    /// → jg-gate, no fields: every component is configured and linked; start accepting agent connections
    /// (until then they wait in the listen backlog, so a first request is never DENY_COMPONENT_UNAVAILABLE)
    case serve = 40
    /// → jg-gate: nonce (u64): report `status` now, carrying `stats_nonce` = this nonce (a /metrics scrape
    /// waits for it, so it counts every reply sent before it, never an older report still in flight)
    case statsNow = 41
}

/// Component → supervisor.
public enum ControlReport: UInt8, Sendable {
    /// component name, pid
    case ready = 1
    /// status JSON text (counters, health)
    case status = 2
    /// ok flag, message: the answer to `configure`
    case configured = 3
    /// nonce (u64): the answer to `ping`
    case pong = 4
    /// peer component name, link number (u64: how many links with that peer this component had received,
    /// the broken one included): the link broke by itself and no new one came; the supervisor re-pairs
    case linkLost = 5
    /// gate only: request id (u64), pid (i64), start time (u64, field 22 of /proc/PID/stat): what the gate,
    /// unprivileged, cannot see of a peer — its executable and pid namespace — is read by the supervisor
    case observePeer = 6
    /// jg-gate: ok (bool), message (string): the snapshot is written and synced to the attached file (ok), or not
    case lineageCompacted = 7
    /// jg-gate: tag (u64), agent id (string), ok (bool), previous counter (u64), message (string)
    case counterReset = 8
    /// systemd only, the first message on a rendezvous connection: component name, pid (u32). The
    /// rendezvous checks both against the connection's SO_PEERCRED (and the uid against the component's
    /// own user) before it answers with `handoff`s
    case hello = 20
    /// jg-broker: tag (u64), ok (bool), message (string): the answer to `holdDecision`
    case holdDecided = 50
}

/// jg-gate → jg-prover
public enum GateToProver: UInt8, Sendable { case check = 1 }
/// jg-prover → jg-gate
public enum ProverToGate: UInt8, Sendable {
    /// request id, token, reason: the prover could not hand the request on (broker missing, deadline passed)
    case abort = 1
    /// request id: decided and handed to the broker (the gate stops the prover's clock)
    case forwarded = 2
}
/// jg-prover → jg-broker
public enum ProverToBroker: UInt8, Sendable { case decided = 1 }
/// jg-gate → jg-broker: decisions the gate already denied, to be audited
public enum GateToBroker: UInt8, Sendable {
    case auditDenied = 1
    /// agent id (string), kind (string, e.g. CanaryTripwire, LineageJournal), detail (string): audited as an event record
    case agentEvent = 2
}
/// jg-broker → jg-gate: the reply for the agent, sent only once its audit record is durable
public enum BrokerToGate: UInt8, Sendable {
    case reply = 1
    /// (no fields) configured and its audit log open, sent once per gate link: the gate sends its held
    /// audit records and forwards requests only from then on
    case ready = 2
}
/// jg-broker → jg-kernel
public enum BrokerToKernel: UInt8, Sendable {
    /// (no fields) → `planes`
    case planesRequest = 1
    /// cgroup path (string, below <cgroup2>/jinnguard/), agent id (string) → `governed`
    case govern = 2
    /// cgroup path (string) → `governed`
    case release = 3
}
/// jg-kernel → jg-broker
public enum KernelToBroker: UInt8, Sendable {
    /// planes JSON text (string)
    case planes = 1
    /// ok (bool), cgroup id (u64; 0 when unknown), message (string): the answer to `govern` or `release`, in order
    case governed = 2
    /// kind (string), cgroup id (u64), pid (u32), detail (string). Sent only after the broker's first
    /// `govern` (a broker that never governs never receives events)
    case event = 3
}

/// jg-kernel → jg-gate: kernel-level denials of an agent's processes, which raise its observed risk.
/// Nothing may be sent gate → kernel.
public enum KernelToGate: UInt8, Sendable {
    /// agent id (string), kind (string, e.g. deny_connect), detail (string)
    case denial = 1
    /// agent id (string), pid (u32), path (string): a governed process of the agent opened a canary decoy
    case canaryTripwire = 2
}

/// Largest internal link frame: a 4 MiB agent payload plus its context.
public let linkMaxBody = 12 * 1024 * 1024
