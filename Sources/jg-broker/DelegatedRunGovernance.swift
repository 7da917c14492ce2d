import Glibc
import JGBrokerCore
import JGIPC

/// Under systemd the tool runs' cgroups are in the broker's delegated subtree (DelegatedCgroup), outside
/// jg-kernel's `<cgroup2>/jinnguard/<instance>/agents/<agent>`. So the broker makes `runs/<agent>` itself and
/// has jg-kernel govern it as that agent; once jg-kernel said yes, that agent's runs start in a cgroup below
/// it, enforced from their first instruction (as the agents' cgroups are under `jinnguard run`).
extension BrokerServer {
    static let governRetry = 1.0
    /// jg-kernel says no while it is not configured yet; past this many answers it is left (logged).
    static let governTries = 10

    /// Asks for every agent of the policy whose `runs/<agent>` is not governed yet (at configuration, at each
    /// new kernel link, and again a second later while jg-kernel says no).
    func governDelegatedAgentCgroups() {
        guard let runner, let parent = runner.delegatedRunsParent, let p = policy, let k = kernel, k.isOpen else { return }
        for a in p.agents where runner.governedAgentCgroups[a.id] == nil && !delegatedGovernAsked.contains(a.id) {
            guard !a.id.isEmpty, !a.id.contains("/"), !a.id.hasPrefix(".") else { continue }
            let dir = parent + "/" + a.id
            guard (mkdir(dir, 0o755) == 0 || errno == EEXIST) && chmod(dir, 0o755) == 0 else {
                Log.warn("cannot create \(dir): \(String(cString: strerror(errno))); runs of \(a.id) are not governed by jg-kernel")
                continue
            }
            let tries = delegatedGovernTries[a.id, default: 0]
            guard tries < Self.governTries else { continue }
            delegatedGovernTries[a.id] = tries + 1
            var w = LinkWriter(type: BrokerToKernel.govern.rawValue)
            w.string(dir)
            w.string(a.id)
            guard k.send(w) else { return }
            governSent += 1
            delegatedGovernAsked.insert(a.id)
            let agent = a.id
            governResults[governSent] = { [unowned self] ok in
                self.delegatedGovernAsked.remove(agent)
                if ok {
                    self.runner?.governedAgentCgroups[agent] = dir
                    self.delegatedGovernTries[agent] = nil
                } else if self.delegatedGovernTries[agent, default: 0] >= Self.governTries {
                    Log.warn("jg-kernel did not govern \(dir): runs of \(agent) are not covered by its cgroup rules")
                } else {
                    self.loop.after(Self.governRetry) { [unowned self] in self.governDelegatedAgentCgroups() }
                }
            }
        }
    }
}
