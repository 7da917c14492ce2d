"""network_request: performed by the broker with libcurl, public https by default, listed destinations only."""

import http.server
import threading

import pytest

from e2e_helpers import DEFAULT_POLICY, NONROOT, send_as
from jinnguard import parse_reply


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello from loopback, token=abc123secret\n" if self.path != "/big" else b"x" * 3_000_000
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def local_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()


def net_policy(port):
    return DEFAULT_POLICY + f"""\
  - id: net_agent
    privilege_tier: 1
    allowed_intents: [fetch_report]
    allowed_network_destinations: ["127.0.0.1:{port}"]
    invariants: []
"""


def fetch(d, url, uid=NONROOT):
    fr = d.frame_for(agent="net_agent", intent="fetch_report", execute=True,
                     proposed_action={"kind": "network_request", "method": "GET", "url": url})
    return parse_reply(send_as(uid, d.socket, [fr])[0])


def test_allowed_destination_is_fetched(daemon_factory, local_server):
    d = daemon_factory(policy=net_policy(local_server))
    r = fetch(d, f"http://127.0.0.1:{local_server}/report")
    assert r.allowed, r
    assert r.result["executed"] is True and r.result["status"] == 200, r
    assert r.result["address"] == "127.0.0.1"
    if r.token == "CONSTRAIN" and r.constraints.get("redact_output"):
        assert "abc123secret" not in r.result["body"], r
    else:
        assert r.result["body"] == "hello from loopback, token=abc123secret\n", r


def test_response_size_is_capped(daemon_factory, local_server):
    d = daemon_factory(policy=net_policy(local_server))
    r = fetch(d, f"http://127.0.0.1:{local_server}/big")
    assert r.allowed and r.result["executed"] is True, r
    assert r.result["truncated"] is True
    assert len(r.result["body"]) <= 1 << 20


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/", "https://localhost/", "https://[::1]/", "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/", "https://169.254.169.254/latest/meta-data/", "https://10.0.0.1/",
    "http://example.com/", "file:///etc/passwd",
])
def test_unsafe_targets_denied_by_the_broker(daemon_factory, local_server, url):
    d = daemon_factory(policy=net_policy(local_server))
    r = fetch(d, url)
    assert r.token == "DENY_VIOLATION", (url, r)


def test_name_resolving_to_loopback_is_refused(daemon_factory, local_server):
    # ip6-localhost / localhost.localdomain resolve through /etc/hosts to loopback: resolved once, refused.
    d = daemon_factory(policy=net_policy(local_server))
    r = fetch(d, f"https://ip6-localhost:{local_server}/")
    # Network requests classify as "network" (65): with the default arithmetic they are CONSTRAINed,
    # which limits them to the listed destinations before any name is resolved.
    assert not (r.result or {}).get("executed"), r
    assert r.token.startswith("DENY_") or r.result.get("error"), r
