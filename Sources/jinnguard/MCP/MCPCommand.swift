import ArgumentParser
import Foundation
import Glibc
import JGCrypto
import JGGateCore
import JGIPC
import JGMCP
import JGPolicy
import JGPolicyYAML

/// `jinnguard mcp`: an MCP gateway in front of one upstream MCP server (docs/mcp.md).
struct MCPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "MCP gateway: every tools/call of an MCP client becomes a Jinn Guard decision.",
        discussion: """
            jinnguard mcp --agent ID [--socket PATH] [--secret-file PATH] --policy-file POLICY -- UPSTREAM_CMD [ARGS…]
            Serves MCP on stdin/stdout (or Streamable HTTP with --listen) and starts UPSTREAM_CMD as the
            stdio MCP server behind it (or reaches --upstream-url). Logs go to stderr.
            """)

    @Option(help: "The agent id the calls are proposed as.") var agent: String
    @Option(help: "The daemon's agent socket (also JINNGUARD_SOCKET).") var socket: String?
    @Option(help: "HMAC key file (else JINN_GUARD_SECRET, JINN_GUARD_SECRET_FILE, JINNGUARD_SECRET_FILE).") var secretFile: String?
    @Option(help: "The policy the daemon runs: tools/list shows only the tools the agent's allowed_intents admit.") var policyFile: String?
    @Flag(help: "List every upstream tool (without a policy file); calls are still decided.") var unfilteredList = false
    @Option(help: "Server name in proposals and audit records (default: the upstream's program name).") var serverName: String?
    @Option(help: "TOOL=INTENT: propose calls of TOOL under another intent name (repeatable).") var intentMap: [String] = []
    @Option(help: "Serve Streamable HTTP on this loopback address (127.0.0.1:PORT) instead of stdio.") var listen: String?
    @Option(help: "Bearer token file for --listen (created with a fresh token when missing).") var tokenFile: String?
    @Option(help: "An extra Origin the HTTP listener accepts (repeatable).") var allowOrigin: [String] = []
    @Option(help: "Reach an upstream MCP server by Streamable HTTP instead of starting one.") var upstreamUrl: String?
    @Flag(help: "Start the upstream inside `jinnguard agent run` (the default; kept for old configurations).") var lockedUpstream = false
    @Flag(help: "Start the upstream as a plain child of the gateway, unconfined (opt-out of the locked default).") var unconfinedUpstream = false
    @Option(help: "The daemon's state directory, for the locked upstream's workspace (agent run's --state-dir).") var stateDir: String?
    @Option(help: "A host path the locked upstream sees read-only (agent run's --read-only; repeatable).") var upstreamReadOnly: [String] = []
    @Option(help: "NAME=VALUE for the locked upstream's environment (agent run's --env; repeatable).") var upstreamEnv: [String] = []
    @Flag(help: "Start the locked upstream even when a confinement layer cannot be applied (agent run's --best-effort).") var upstreamBestEffort = false
    @Argument(parsing: .postTerminator, help: "The upstream MCP server command (stdio).") var upstream: [String] = []

    func run() throws {
        Log.name = "jinnguard mcp"
        signal(SIGPIPE, SIG_IGN)
        do {
            try start()
        } catch {
            Log.error(error.description)
            throw ExitCode(2)
        }
    }

    struct MCPStartError: Error, CustomStringConvertible { var description: String }

    func start() throws(MCPStartError) -> Never {
        guard (upstreamUrl == nil) != upstream.isEmpty else {
            throw MCPStartError(description: "give exactly one upstream: -- UPSTREAM_CMD … or --upstream-url URL")
        }
        let key = try loadKey()
        let keyFile = secretFile ?? ProcessInfo.processInfo.environment["JINN_GUARD_SECRET_FILE"] ?? ProcessInfo.processInfo.environment["JINNGUARD_SECRET_FILE"]
        var map: [String: String] = [:]
        for m in intentMap {
            let p = m.split(separator: "=", maxSplits: 1).map(String.init)
            guard p.count == 2, !p[0].isEmpty, !p[1].isEmpty else { throw MCPStartError(description: "bad --intent-map \(m) (TOOL=INTENT)") }
            map[p[0]] = p[1]
        }
        var view: ToolPolicyView?
        if let pf = policyFile {
            guard let bytes = Files.read(pf, limit: 16 << 20) else { throw MCPStartError(description: "cannot read policy \(pf): \(String(cString: strerror(errno)))") }
            let policy: Policy
            do { policy = try PolicyLoader.load(text: String(decoding: bytes, as: UTF8.self), sourceName: pf) } catch {
                throw MCPStartError(description: "policy \(error.description)")
            }
            guard let v = ToolPolicyView(policy: policy, agent: agent, intentMap: map) else {
                throw MCPStartError(description: "agent \(agent) is not in the policy \(pf)")
            }
            view = v
        } else if !unfilteredList {
            throw MCPStartError(description: "--policy-file is needed to filter tools/list (or --unfiltered-list)")
        } else {
            view = nil
        }
        let name = serverName ?? upstream.first.map { String($0.split(separator: "/").last ?? "upstream") } ?? HTTPUpstream.parse(url: upstreamUrl ?? "").map { "\($0.host):\($0.port)" } ?? "upstream"
        guard !name.isEmpty, !name.contains("/") else { throw MCPStartError(description: "--server-name must not contain /") }
        let sock = socket ?? ProcessInfo.processInfo.environment["JINNGUARD_SOCKET"] ?? "jinnguard-state/jinnguard.sock"
        let decider = DaemonDecider(socketPath: sock, key: key)
        let session = GatewaySession(server: name, agent: agent, decider: decider, view: view ?? (map.isEmpty ? nil : ToolPolicyView(allowedIntents: [], intentMap: map)))

        // The upstream side.
        let upstreamPeer: MCPPeer
        var child: UpstreamLauncher.Child?
        if let url = upstreamUrl {
            guard let t = HTTPUpstream.parse(url: url) else { throw MCPStartError(description: "--upstream-url must be http://HOST:PORT/PATH") }
            let h = HTTPUpstream(target: t)
            h.session = session
            upstreamPeer = h
        } else {
            let c: UpstreamLauncher.Child
            guard !(lockedUpstream && unconfinedUpstream) else { throw MCPStartError(description: "--locked-upstream and --unconfined-upstream exclude each other") }
            let conf = UpstreamLauncher.Confinement(locked: !unconfinedUpstream, socket: sock, secretFile: keyFile, stateDir: stateDir,
                                                    readOnly: upstreamReadOnly, env: upstreamEnv, bestEffort: upstreamBestEffort)
            do { c = try UpstreamLauncher.launch(upstream, agent: agent, confinement: conf) } catch { throw MCPStartError(description: error.description) }
            child = c
            let ch = LineChannel(input: c.fromChild, output: c.toChild)
            upstreamPeer = StdioPeer(channel: ch)
            ch.startReading(name: "upstream", onLine: { session.fromUpstream($0) }, onEnd: {
                session.upstreamClosed()
                _ = session.drainRecords()
                Log.info("upstream MCP server closed its output; exiting")
                var st: Int32 = 0
                waitpid(c.pid, &st, 0)
                Glibc.exit(1)
            })
        }
        session.upstream = upstreamPeer

        // The client side.
        if let l = listen {
            let parts = l.split(separator: ":")
            guard parts.count == 2, let port = UInt16(parts[1]), port > 0 else { throw MCPStartError(description: "--listen must be 127.0.0.1:PORT") }
            guard let fd = TCP.listen(host: String(parts[0]), port: port) else {
                throw MCPStartError(description: "cannot listen on \(l) (loopback addresses only): \(String(cString: strerror(errno)))")
            }
            let token = try loadToken()
            let http = StreamableHTTPListener(listener: fd, access: HTTPAccess(port: port, token: token, allowedOrigins: allowOrigin))
            http.session = session
            session.client = http
            Log.info("Streamable HTTP on http://\(l)/mcp for agent \(agent)")
            // The session holds its peers weakly: they live as long as this frame, which never returns.
            withExtendedLifetime((upstreamPeer, child, session, http)) { http.serve() }
        }
        let stdio = StdioPeer(channel: LineChannel(input: OwnedFD(adopting: 0), output: OwnedFD(adopting: 1)))
        session.client = stdio
        let pid = child?.pid
        stdio.channel.startReading(name: "client", onLine: { session.fromClient($0) }, onEnd: {
            // The client is gone: what is left to record is recorded; the upstream gets EOF on its stdin, and a
            // moment to exit on its own.
            let recorded = session.drainRecords()
            if let pid {
                (upstreamPeer as? StdioPeer)?.channel.output.close()
                for _ in 0..<50 {
                    var st: Int32 = 0
                    if waitpid(pid, &st, WNOHANG) == pid { Glibc.exit(recorded ? 0 : 1) }
                    usleep(20_000)
                }
                kill(pid, SIGTERM)
                var st: Int32 = 0
                waitpid(pid, &st, 0)
            }
            Glibc.exit(recorded ? 0 : 1)
        })
        withExtendedLifetime((upstreamPeer, stdio, child, session)) {
            while true { pause() }
        }
        Glibc.exit(0)
    }

    func loadKey() throws(MCPStartError) -> [UInt8] {
        let env = ProcessInfo.processInfo.environment
        var path = secretFile
        if path == nil, let s = env["JINN_GUARD_SECRET"], !s.isEmpty { return Array(s.utf8) }
        path = path ?? env["JINN_GUARD_SECRET_FILE"] ?? env["JINNGUARD_SECRET_FILE"]
        guard let p = path else { throw MCPStartError(description: "no key: give --secret-file (or JINN_GUARD_SECRET / JINN_GUARD_SECRET_FILE)") }
        guard let raw = Files.read(p, limit: 1 << 20) else { throw MCPStartError(description: "cannot read key \(p): \(String(cString: strerror(errno)))") }
        let k = Array(String(decoding: raw, as: UTF8.self).trimmingCharacters(in: " \t\r\n").utf8)
        guard !k.isEmpty else { throw MCPStartError(description: "key file \(p) is empty") }
        return k
    }

    func loadToken() throws(MCPStartError) -> [UInt8] {
        guard let tf = tokenFile else { throw MCPStartError(description: "--listen needs --token-file (the bearer token HTTP clients send)") }
        if access(tf, F_OK) != 0 {
            guard let r = Digest.random(32) else { throw MCPStartError(description: "no randomness for a token") }
            let fd = open(tf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw MCPStartError(description: "cannot create \(tf): \(String(cString: strerror(errno)))") }
            let b = Array((Digest.hex(r) + "\n").utf8)
            // A torn or unsynced token file would be read back as another token than clients were given.
            let ok = writeFully(fd, b) && fsync(fd) == 0
            let err = errno
            Glibc.close(fd)
            guard ok else {
                unlink(tf)
                throw MCPStartError(description: "cannot write \(tf): \(String(cString: strerror(err)))")
            }
        }
        guard let raw = Files.read(tf, limit: 4096) else { throw MCPStartError(description: "cannot read \(tf)") }
        let t = Array(String(decoding: raw, as: UTF8.self).trimmingCharacters(in: " \t\r\n").utf8)
        guard t.count >= 16 else { throw MCPStartError(description: "token in \(tf) is shorter than 16 bytes") }
        return t
    }
}
