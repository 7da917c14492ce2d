import ArgumentParser
import Glibc
import JGIPC

/// `jinnguard rendezvous`: what jinnguard.service runs (deploy/units/). `jinnguard run` without spawning:
/// the components are systemd units that connect to it (Rendezvous.swift). Defaults are the installed
/// layout (docs/deployment.md).
struct Rendezvous: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Link and configure the components started as systemd units (jinnguard.service).")

    @Option(help: "State directory.") var stateDir = InstalledLayout.stateDir
    @Option(help: "Policy YAML.") var policyFile = InstalledLayout.policyFile
    @Option(help: "Shared HMAC key file, created with a fresh random key (0600) when missing.") var secretFile = InstalledLayout.secretFile
    @Option(help: "The agent socket (systemd's, jinnguard.socket): named here for status and for the tools' view.")
    var socketPath = InstalledLayout.socketPath
    @Option(help: "Where the component units connect.") var linkSocket = SystemdComponent.rendezvousPath
    @Option(help: "Previous HMAC key file, accepted until --previous-secret-valid-until (key rotation).") var previousSecretFile: String?
    @Option(help: "Unix seconds until which the previous key is accepted.") var previousSecretValidUntil: UInt64?
    @Option(help: "Directory of per-agent key files named after agent ids.") var agentSecretDir: String?

    func run() throws {
        var args = ["--state-dir", stateDir, "--policy-file", policyFile, "--socket-path", socketPath,
                    "--generated-secret-file", secretFile, "--rendezvous", linkSocket]
        if let f = previousSecretFile { args += ["--previous-secret-file", f] }
        if let u = previousSecretValidUntil { args += ["--previous-secret-valid-until", String(u)] }
        if let d = agentSecretDir { args += ["--agent-secret-dir", d] }
        let r = try Run.parse(args)
        try r.run()
    }
}

/// Where `make install` / the Debian package put things.
enum InstalledLayout {
    static let stateDir = "/var/lib/jinnguard"
    static let policyFile = "/etc/jinnguard/policy.yaml"
    static let secretFile = "/etc/jinnguard/secret"
    static let socketPath = "/run/jinnguard/jinnguard.sock"

    /// What the operator commands (status, audit, agent) look at when given nothing: the embedded
    /// daemon's ./jinnguard-state when there is one (`make run`), else the installed state directory.
    static func defaultStateDir() -> String {
        access("jinnguard-state", F_OK) != 0 && access(stateDir, F_OK) == 0 ? stateDir : "jinnguard-state"
    }
}
