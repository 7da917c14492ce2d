"""Policy numbers are bounded at load (#16): a tool limit that the broker would shift or hand to setrlimit
beyond its range is refused by `jinnguard policy check` with the line and the key, not wrapped."""

from e2e_helpers import DEFAULT_POLICY
from test_policy import assert_names_line, line_of, run_check, write

HUGE = {
    "memory_mb": 2 ** 44,          # << 20 wraps to 0: an address-space limit of nothing
    "file_size_mb": 2 ** 44,
    "cpu_seconds": 2 ** 64 - 1,    # RLIM_INFINITY: no CPU limit at all
    "max_processes": 2 ** 63,
}


def with_limit(key, value):
    first = DEFAULT_POLICY.index("    privilege_tier:")
    end = DEFAULT_POLICY.index("\n", first) + 1
    return DEFAULT_POLICY[:end] + f"    tool_limits: {{{key}: {value}}}\n" + DEFAULT_POLICY[end:]


def test_out_of_range_tool_limits_are_load_errors(tmp_path):
    for key, value in HUGE.items():
        text = with_limit(key, value)
        p = write(tmp_path, f"{key}.yaml", text)
        r = run_check(p)
        assert_names_line(r, p, line_of(text, f"{key}: {value}"))
        assert key in r.stdout + r.stderr, (key, r.stdout + r.stderr)


def test_largest_allowed_limits_still_load(tmp_path):
    text = with_limit("memory_mb", 1048576)
    p = write(tmp_path, "ok.yaml", text)
    r = run_check(p)
    assert r.returncode == 0, r.stdout + r.stderr
