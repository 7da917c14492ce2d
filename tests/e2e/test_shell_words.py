"""Shell commands are classified after shell quote removal: `su''do id` scores like `sudo id`, and
`rm -r -f /x` is refused like `rm -rf /x`."""

import pytest

from e2e_helpers import NONROOT, send_as, token_of
from jinnguard import parse_reply


def verdict(d, command, agent="authority_agent", execute=False):
    fr = d.frame_for(agent=agent, intent="run_tool", execute=execute,
                     proposed_action={"kind": "shell_command", "command": command})
    return token_of(send_as(NONROOT, d.socket, [fr])[0])


@pytest.mark.parametrize("quoted,plain", [("su''do id", "sudo id"), ('s"ud"o id', "sudo id"), ("s\\udo id", "sudo id"),
                                          ("'ba'sh -c id", "bash -c id")])
def test_quotes_do_not_lower_the_score(shared_daemon, quoted, plain):
    # authority_agent's invariant is fused_risk <= 40: a privilege or execution word denies it.
    assert verdict(shared_daemon, plain) == "DENY_VIOLATION"
    assert verdict(shared_daemon, quoted) == verdict(shared_daemon, plain), quoted


@pytest.mark.parametrize("split", ["rm -r -f /x", "rm -f -r /x", "r''m -rf /x", "rm -R --force /x", '"rm" -rf /x'])
def test_split_flags_are_refused_like_rm_rf(shared_daemon, split):
    d = shared_daemon
    assert verdict(d, "rm -rf /x", agent="stream_agent") == "DENY_VIOLATION"
    assert verdict(d, split, agent="stream_agent") == "DENY_VIOLATION", split
