/// The permit table of every link (OpenSSH's monitor: `mon_dispatch` with MON_ONCE/MON_PERMIT): for each
/// sender and receiver, which message types may come, whether one must open the link, and which may come
/// only once. Both ends of every link check what they receive against it in one place (LinkEndpoint, and
/// ControlChannel on the component side of the control link); anything else breaks the link.
public struct Permit: Sendable, Equatable {
    public var type: UInt8
    /// Must be the link's first message, and only then (the component's `ready` on its control link).
    public var opens = false
    /// At most once per link (the broker's `ready` to the gate).
    public var once = false

    public init(_ type: UInt8, opens: Bool = false, once: Bool = false) {
        self.type = type
        self.opens = opens
        self.once = once
    }
}

/// One side of a link: a component, or the supervisor (`jinnguard run` / `jinnguard rendezvous`).
public enum LinkSide: Hashable, Sendable {
    case supervisor
    case component(Component)

    public var name: String {
        switch self {
        case .supervisor: return "jinnguard"
        case .component(let c): return c.rawValue
        }
    }
}

public struct PermitTable: Sendable {
    public let from: LinkSide
    public let to: LinkSide
    public let permits: [UInt8: Permit]

    public init(from: LinkSide, to: LinkSide, _ list: [Permit]) {
        self.from = from
        self.to = to
        var m: [UInt8: Permit] = [:]
        for p in list { m[p.type] = p }
        permits = m
    }

    /// What `from` may send to `to`; an empty table for pairs that are not linked at all.
    public static func of(from: LinkSide, to: LinkSide) -> PermitTable {
        PermitTable(from: from, to: to, list(from: from, to: to))
    }

    static func list(from: LinkSide, to: LinkSide) -> [Permit] {
        typealias R = ControlRequest
        typealias P = ControlReport
        switch (from, to) {
        case (.supervisor, .component(let c)):
            var l = [Permit(R.configure.rawValue), Permit(R.link.rawValue), Permit(R.ping.rawValue)]
            if c == .gate {
                l += [Permit(R.peerObservation.rawValue), Permit(R.resetCounter.rawValue), Permit(R.lineageCompact.rawValue),
                      Permit(R.serve.rawValue), Permit(R.statsNow.rawValue)]
            }
            if c == .broker { l += [Permit(R.auditEvent.rawValue), Permit(R.holdDecision.rawValue)] }
            // handoff/handoffDone belong to the rendezvous handshake only (SystemdComponent), never to this link.
            return l
        case (.component(let c), .supervisor):
            var l = [Permit(P.ready.rawValue, once: true), Permit(P.status.rawValue), Permit(P.configured.rawValue),
                     Permit(P.pong.rawValue), Permit(P.linkLost.rawValue)]
            if c == .gate { l += [Permit(P.observePeer.rawValue), Permit(P.lineageCompacted.rawValue), Permit(P.counterReset.rawValue)] }
            if c == .broker { l.append(Permit(P.holdDecided.rawValue)) }
            // hello opens a rendezvous connection, before it is a control link: never on one.
            return l
        case (.component(.gate), .component(.prover)): return [Permit(GateToProver.check.rawValue)]
        case (.component(.prover), .component(.gate)): return [Permit(ProverToGate.abort.rawValue), Permit(ProverToGate.forwarded.rawValue)]
        case (.component(.prover), .component(.broker)): return [Permit(ProverToBroker.decided.rawValue)]
        case (.component(.gate), .component(.broker)): return [Permit(GateToBroker.auditDenied.rawValue), Permit(GateToBroker.agentEvent.rawValue)]
        case (.component(.broker), .component(.gate)): return [Permit(BrokerToGate.reply.rawValue), Permit(BrokerToGate.ready.rawValue, once: true)]
        case (.component(.broker), .component(.kernel)):
            return [Permit(BrokerToKernel.planesRequest.rawValue), Permit(BrokerToKernel.govern.rawValue), Permit(BrokerToKernel.release.rawValue)]
        case (.component(.kernel), .component(.broker)):
            return [Permit(KernelToBroker.planes.rawValue), Permit(KernelToBroker.governed.rawValue), Permit(KernelToBroker.event.rawValue)]
        case (.component(.kernel), .component(.gate)): return [Permit(KernelToGate.denial.rawValue), Permit(KernelToGate.canaryTripwire.rawValue)]
        default: return []
        }
    }
}

/// The receiving end's state of one link against its table.
public struct PermitChecker: Sendable {
    public let table: PermitTable
    private var received = 0
    private var seen: Set<UInt8> = []
    private let opening: UInt8?

    public init(_ table: PermitTable) {
        self.table = table
        opening = table.permits.values.first(where: \.opens)?.type
    }

    public init(from: LinkSide, to: LinkSide) { self.init(PermitTable.of(from: from, to: to)) }

    /// Admits one message of `type`, or says why the link must break.
    public mutating func admit(_ type: UInt8) throws(LinkProtocolError) {
        let link = "\(table.from.name) -> \(table.to.name)"
        guard let p = table.permits[type] else { throw LinkProtocolError(link: link, reason: "message \(type) not permitted") }
        if let o = opening {
            if received == 0 && type != o { throw LinkProtocolError(link: link, reason: "message \(type) before the opening \(o)") }
            if received > 0 && p.opens { throw LinkProtocolError(link: link, reason: "opening message \(type) again") }
        }
        if p.once && seen.contains(type) { throw LinkProtocolError(link: link, reason: "message \(type) permitted once") }
        seen.insert(type)
        received += 1
    }
}

/// Which side this process is: set once at start by each component (SystemdComponent.identity); the
/// supervisor leaves it at `.supervisor`.
public enum LinkPermits {
    /// Set once at start-up on the main thread, before any link exists; only read afterwards.
    nonisolated(unsafe) public static var local: LinkSide = .supervisor
}
