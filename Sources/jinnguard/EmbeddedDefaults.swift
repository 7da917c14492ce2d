/// The example policy written on first start with embedded defaults.
enum EmbeddedDefaults {
    static let policy = """
    # Jinn Guard example policy (written by `jinnguard` on first start; edit and send SIGHUP to reload).
    global_safety_ceiling: 90.0
    deny_anonymous_agents: true
    # Canaries: matched in any case, after shell quote removal and against shell patterns; a decoy file of each
    # is planted in every agent workspace, and opening it denies that agent's later requests (DENY_CANARY_TRIPWIRE).
    canary_resources: ["canary_decoy_a91f"]
    enforcement_scope: {governed_path_prefixes: []}
    runtime_policy: {deny_root_peers: false, allowed_peer_uids: [], require_brokered_execution: false, require_sandbox_namespace: false}
    # Tool runs (shell commands, network requests) in flight at once, all agents together (default 16);
    # as many more wait, the rest are refused DENY_RUNTIME_POLICY.
    max_concurrent_tool_runs: 16
    # Per agent, optional: tool_limits: {timeout_seconds: 10, cpu_seconds: 10, memory_mb: 512,
    #   max_processes: 64, output_bytes: 1048576, file_size_mb: 16, max_concurrent_runs: 4}
    agent_nodes:
      - id: claims_agent
        privilege_tier: 1
        allowed_peer_uids: []
        allowed_intents: [read_customer_record, summarize_claim, run_report, write_temp]
        allowed_executables: [echo, date, ls, cat]
        max_sequence_quota: 0
        invariants:
          - "spending_ceiling_usd <= 150.00"
          - "privilege_escalation_depth < 3"
          - "fused_risk <= 89.0"
      - id: research_agent
        privilege_tier: 2
        # Limits of each tool run; workspace_mb sizes the agent's own workspace file system (default 256).
        tool_limits: {timeout_seconds: 10, workspace_mb: 256}
        # required (default): a sandbox layer that cannot be applied refuses the run (DENY_SANDBOX_UNAVAILABLE);
        # best_effort: the run goes ahead without it, audited as sandbox_missing, and health says degraded.
        sandbox_mode: required
        # Brokered file_write: relative paths land in the workspace; writable_paths lists absolute directories
        # it may also write below (e.g. [/tmp/research]). require_sandbox_namespace: true refuses requests that
        # do not come from this agent's locked runtime (`jinnguard agent run --agent research_agent -- CMD`).
        writable_paths: []
        require_sandbox_namespace: false
        allowed_intents: []
        allowed_executables: []
        max_sequence_quota: 500   # decisions of this agent over all its processes (0 = unlimited)
        invariants:
          - "fused_risk <= 80"

    """
}
