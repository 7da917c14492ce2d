import ArgumentParser
import Glibc
import JGIPC
import JGJSON

/// `jinnguard approve ID` / `jinnguard reject ID`: an operator decides a hold (human approval bound to
/// the exact call; jg-broker's HoldStore). Served on the root-only operator socket like reset-counter
/// (LineageOperations.swift: mode 0600, peer uid 0 checked), relayed to jg-broker, which records it.
extension Supervisor {
    func holdRequest(_ fd: Int32, _ peer: PeerCredentials, _ v: JSONValue, approve: Bool) {
        guard let id = v["hold"]?.stringValue, !id.isEmpty else {
            operatorReply(fd, ok: false, message: "no hold id"); closeOperator(fd); return
        }
        guard let b = children[.broker], b.configured, let control = b.control, control.isOpen else {
            operatorReply(fd, ok: false, message: "jg-broker is not running; nothing was decided"); closeOperator(fd); return
        }
        let tag = lineageOps.nextTag
        lineageOps.nextTag += 1
        lineageOps.waiting[tag] = (fd, id, peer.uid, peer.pid)
        var w = LinkWriter(type: ControlRequest.holdDecision.rawValue)
        w.u64(tag); w.string(id); w.bool(approve); w.u32(peer.uid); w.i64(Int64(peer.pid))
        control.send(w)
    }

    func holdDecided(tag: UInt64, ok: Bool, message: String) {
        guard let w = lineageOps.waiting.removeValue(forKey: tag) else { return }
        Log.info("operator hold decision by uid \(w.uid): \(message)")
        operatorReply(w.fd, ok: ok, message: message)
        closeOperator(w.fd)
    }
}

struct ApproveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve", abstract: "Approve a held call (DENY_HOLD_PENDING_REVIEW's hold id): it runs once, as stored.",
        discussion: "Root only, over <state-dir>/operator.sock. Exit 0 done, 1 refused, 2 not reachable.")
    @Argument(help: "The hold id.") var hold: String
    @Option(help: "The daemon's state directory.") var stateDir = "jinnguard-state"
    func run() throws {
        try OperatorClient.run(stateDir: stateDir, .object([("command", .string("approve")), ("hold", .string(hold))]), what: "approve")
    }
}

struct RejectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reject", abstract: "Reject a held call: its next retry is refused (DENY_HOLD_REJECTED).",
        discussion: "Root only, over <state-dir>/operator.sock. Exit 0 done, 1 refused, 2 not reachable.")
    @Argument(help: "The hold id.") var hold: String
    @Option(help: "The daemon's state directory.") var stateDir = "jinnguard-state"
    func run() throws {
        try OperatorClient.run(stateDir: stateDir, .object([("command", .string("reject")), ("hold", .string(hold))]), what: "reject")
    }
}
