import Foundation
import Glibc
import JGCrypto
import JGIPC
import JGJSON
import JGMCP

/// Where the gateway sends what it routes: the upstream server, and the client.
protocol MCPPeer: AnyObject, Sendable {
    /// One JSON-RPC message (no framing). `inReplyTo` names the request a response or notification belongs to
    /// when the gateway knows it (the HTTP listener routes on it; stdio ignores it).
    func deliver(_ message: [UInt8], inReplyTo idKey: String?)
}

/// The gateway between one client side and one upstream: every `tools/call` is a Jinn Guard decision
/// before it reaches the upstream; `tools/list` answers are filtered to what the agent may call; a
/// cancellation is passed on and recorded; everything else passes as the bytes it came as.
/// `@unchecked`: reader threads of both sides call in; every mutable field is touched under `lock`, and
/// `client`/`upstream` are set before the first reader thread starts.
final class GatewaySession: @unchecked Sendable {
    struct Call {
        var proposal: ToolCallProposal
        var limits: ResultLimits?
        var forwarded = false
        var cancelled = false
        var progressToken: String?
    }

    let server: String
    let agent: String
    let decider: DaemonDecider
    let view: ToolPolicyView?
    weak var upstream: MCPPeer?
    weak var client: MCPPeer?
    private let lock = NSLock()
    private var calls: [String: Call] = [:]
    private var lists: Set<String> = []
    /// Decisions run off the reader threads so that a call being decided never holds up other traffic.
    private let work = DispatchQueue(label: "jinnguard.mcp.decisions", attributes: .concurrent)
    /// Records of results and cancellations, after the client has its answer: one at a time, in order, and
    /// sent while the daemon connection is idle — right after a call went to the upstream (which then takes
    /// its own time), or 50 ms after the record was made — so that a record never holds up the next call's
    /// decision (all of one agent's proposals share one connection and one counter sequence).
    private let records = DispatchQueue(label: "jinnguard.mcp.records")
    private var pendingRecords: [(ToolCallProposal, ToolCallProposal.Record)] = []

    private func record(_ p: ToolCallProposal, _ r: ToolCallProposal.Record) {
        lock.lock()
        pendingRecords.append((p, r))
        lock.unlock()
        records.asyncAfter(deadline: .now() + 0.05) { [self] in flushRecords() }
    }

    /// Sends every record made so far (on `records`, or at exit).
    func flushRecords() {
        lock.lock()
        let todo = pendingRecords
        pendingRecords.removeAll()
        lock.unlock()
        for (p, r) in todo { _ = decider.decide(p, record: r) }
    }

    /// Before the gateway exits: what is still queued is recorded.
    func drainRecords() { records.sync { flushRecords() } }

    init(server: String, agent: String, decider: DaemonDecider, view: ToolPolicyView?) {
        self.server = server
        self.agent = agent
        self.decider = decider
        self.view = view
    }

    func intent(for tool: String) -> String { view?.intent(for: tool) ?? tool }

    // MARK: client → upstream

    func fromClient(_ bytes: [UInt8]) {
        let m: JSONRPCMessage
        do { m = try JSONRPCMessage.parse(bytes) } catch {
            // Unreadable: it could be anything, a tools/call too, so it never reaches the upstream.
            client?.deliver(JSONRPCMessage.error(idKey: nil, code: -32700, message: "Jinn Guard gateway: \(error.reason)"), inReplyTo: nil)
            return
        }
        switch (m.kind, m.method) {
        case (.request, "tools/call"?):
            toolCall(m, bytes)
        case (_, "tools/call"?):
            // A tools/call without a usable id (null, an object, none) is never forwarded: a server might run it.
            client?.deliver(JSONRPCMessage.error(idKey: nil, code: -32600, message: "Jinn Guard gateway: tools/call needs a string or number id"), inReplyTo: nil)
        case (.request, "tools/list"?):
            if view != nil, let id = m.idKey { lock.lock(); lists.insert(id); lock.unlock() }
            upstream?.deliver(bytes, inReplyTo: nil)
        case (.notification, "notifications/cancelled"?):
            cancelled(m, bytes)
        default:
            upstream?.deliver(bytes, inReplyTo: nil)
        }
    }

    private func toolCall(_ m: JSONRPCMessage, _ bytes: [UInt8]) {
        guard let id = m.idKey else { return }
        guard let tool = m.params?["name"]?.stringValue else {
            client?.deliver(JSONRPCMessage.error(idKey: id, code: -32602, message: "tools/call without a tool name"), inReplyTo: id)
            return
        }
        let args = m.params?["arguments"]
        if let a = args, a != .null, !isObject(a) {
            client?.deliver(JSONRPCMessage.error(idKey: id, code: -32602, message: "tools/call arguments must be an object"), inReplyTo: id)
            return
        }
        let p = ToolCallProposal(agentID: agent, server: server, tool: tool, intent: intent(for: tool), arguments: args)
        let modern = m.params?["_meta"]?["io.modelcontextprotocol/protocolVersion"] != nil
        var token: String?
        if let t = m.params?["_meta"]?["progressToken"] { token = JSONWriter.write(t) }
        lock.lock()
        if calls[id] != nil {
            lock.unlock()
            client?.deliver(JSONRPCMessage.error(idKey: id, code: -32600, message: "a request with this id is in progress"), inReplyTo: id)
            return
        }
        calls[id] = Call(proposal: p, progressToken: token)
        lock.unlock()
        // Decided on the reading thread (one thread hop less per call; decisions are one at a time anyway);
        // only a held call waits elsewhere, so that the client's other messages keep flowing.
        let first = decider.decide(p)
        if case let .deny(t, _) = first, t == "DENY_HOLD_PENDING_REVIEW" {
            work.async { [self] in finish(id, tool, bytes, modern, decideHolding(p, id: id, first: first)) }
        } else {
            finish(id, tool, bytes, modern, first)
        }
    }

    /// What the decision means for the call: forwarded (as the client's bytes), or answered as a tool error.
    private func finish(_ id: String, _ tool: String, _ bytes: [UInt8], _ modern: Bool, _ verdict: DaemonVerdict) {
        switch verdict {
        case .allow, .constrain:
            lock.lock()
            guard var c = calls[id] else { lock.unlock(); return }
            if c.cancelled {
                calls[id] = nil
                lock.unlock()
                return
            }
            if case let .constrain(l) = verdict { c.limits = view?.limits(l) ?? l }
            c.forwarded = true
            calls[id] = c
            lock.unlock()
            upstream?.deliver(bytes, inReplyTo: nil)
            records.async { [self] in flushRecords() }
        case let .deny(token, detail):
            lock.lock()
            let wasCancelled = calls[id]?.cancelled ?? false
            calls[id] = nil
            lock.unlock()
            if !wasCancelled {
                client?.deliver(JSONRPCMessage.result(idKey: id, ToolResults.denied(token: token, detail: detail, tool: tool, modern: modern)), inReplyTo: id)
            }
        }
    }

    /// How often a held call asks again whether its hold was decided.
    var holdPollSeconds = 1.0

    /// The decision, waiting out a hold: DENY_HOLD_PENDING_REVIEW keeps the client's call open, with a
    /// progress notification per poll when the client asked for progress, until an operator decides the hold
    /// (then the same call, proposed again, finds it approved or rejected) or it expires. Cancelling the
    /// call stops the wait.
    private func decideHolding(_ p: ToolCallProposal, id: String, first: DaemonVerdict) -> DaemonVerdict {
        var verdict = first
        var polls = 0
        var announced: String?
        while case let .deny(token, detail) = verdict, token == "DENY_HOLD_PENDING_REVIEW" {
            let hold = detail ?? "?"
            if announced != hold {
                Log.info("call of \(p.tool) held for review: jinnguard approve \(hold) (or reject)")
                announced = hold
            }
            lock.lock()
            let c = calls[id]
            lock.unlock()
            guard let c, !c.cancelled else { return verdict }
            if let t = c.progressToken, let tv = try? JSONParser.parse(t) {
                polls += 1
                let note: JSONValue = .object([("jsonrpc", .string("2.0")), ("method", .string("notifications/progress")),
                                               ("params", .object([("progressToken", tv), ("progress", .integer(.signed(Int64(polls)))),
                                                                   ("message", .string("waiting for human approval of \(hold)"))]))])
                client?.deliver(JSONWriter.bytes(note), inReplyTo: id)
            }
            usleep(useconds_t(holdPollSeconds * 1_000_000))
            verdict = decider.decide(p)
        }
        return verdict
    }

    private func cancelled(_ m: JSONRPCMessage, _ bytes: [UInt8]) {
        guard let rid = m.params?["requestId"] else { upstream?.deliver(bytes, inReplyTo: nil); return }
        let id = JSONWriter.write(rid)
        let reason = m.params?["reason"]?.stringValue ?? "cancelled by the client"
        lock.lock()
        guard var c = calls[id] else {
            lock.unlock()
            upstream?.deliver(bytes, inReplyTo: nil)
            return
        }
        c.cancelled = true
        let forwarded = c.forwarded
        calls[id] = c
        lock.unlock()
        // Passed on only for a call the upstream has: one still being decided is simply never forwarded.
        if forwarded { upstream?.deliver(bytes, inReplyTo: nil) }
        let p = c.proposal
        record(p, .cancel(reason: reason))
    }

    // MARK: upstream → client

    func fromUpstream(_ bytes: [UInt8]) {
        guard let m = try? JSONRPCMessage.parse(bytes) else {
            Log.error("upstream sent a message that is not JSON-RPC; dropped")
            return
        }
        if m.kind == .response, let id = m.idKey {
            lock.lock()
            let isList = lists.remove(id) != nil
            // An answer to a call the upstream was never given (still being decided, or denied) is not the
            // upstream's to give: dropped, the call keeps waiting for its decision.
            if let c = calls[id], !c.forwarded {
                lock.unlock()
                Log.warn("upstream answered call \(id) before it was forwarded; dropped")
                return
            }
            let call = calls.removeValue(forKey: id)
            lock.unlock()
            if isList, let view, let r = m.value["result"] {
                let filtered = ToolResults.filteredList(r, allowed: view.lists)
                client?.deliver(JSONRPCMessage.result(idKey: id, filtered), inReplyTo: id)
                return
            }
            if let call {
                var out = bytes
                if let l = call.limits, let r = m.value["result"] {
                    out = JSONRPCMessage.result(idKey: id, ToolResults.limited(r, l))
                }
                client?.deliver(out, inReplyTo: id)
                let isError = m.value["result"]?["isError"] == .bool(true) || m.value["error"] != nil
                let digest = Digest.sha256Hex(CanonicalJSON.text(m.value["result"] ?? m.value["error"] ?? .null))
                let p = call.proposal
                if !call.cancelled {
                    record(p, .result(digest: digest, isError: isError))
                }
                return
            }
            client?.deliver(bytes, inReplyTo: id)
            return
        }
        // Progress of a call goes where the call came from.
        var related: String?
        if m.kind == .notification, m.method == "notifications/progress", let t = m.params?["progressToken"] {
            let tk = JSONWriter.write(t)
            lock.lock()
            related = calls.first(where: { $0.value.progressToken == tk })?.key
            lock.unlock()
        }
        client?.deliver(bytes, inReplyTo: related)
    }

    /// The upstream is gone: every call it had is answered as failed (never left hanging).
    func upstreamClosed() {
        lock.lock()
        let pending = calls.filter { $0.value.forwarded }
        for k in pending.keys { calls[k] = nil }
        lock.unlock()
        for (id, _) in pending {
            client?.deliver(JSONRPCMessage.error(idKey: id, code: -32603, message: "upstream MCP server closed"), inReplyTo: id)
        }
    }

    private func isObject(_ v: JSONValue) -> Bool {
        if case .object = v { return true }
        return false
    }
}
