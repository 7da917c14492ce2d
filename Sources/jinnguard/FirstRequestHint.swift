import JGPolicy

/// What `make run` prints once ready: how a new user sends a first request (README.md, "First request").
enum FirstRequestHint {
    static func text(stateDir: String, socketPath: String, policy: Policy) -> String {
        let agent = policy.agent("claims_agent") != nil ? "claims_agent" : (policy.agents.first?.id ?? "AGENT_ID")
        return """
        jinnguard: first request: as root, give the user who runs the agent a key of their own:
        jinnguard:   jinnguard keys issue --agent \(agent) --user NAME --state-dir \(stateDir)
        jinnguard: then, as that user: PYTHONPATH=clients/python python3 -c 'from jinnguard import JinnGuardClient; \
        print(JinnGuardClient(socket_path="\(socketPath)", secret_file="\(stateDir)/agent-keys/\(agent)").propose("\(agent)", \
        "read_customer_record", action_risk_score=10, context_vars={"spending_ceiling_usd": 20}))'
        jinnguard:   (README.md, "First request"; `jinnguard validate --state-dir \(stateDir)` checks the daemon end to end)
        """
    }
}
