"""A hand-rolled stdio MCP server of the lenient kind: it runs any tools/call it reads, whatever its id
(as many small servers do). Logs each call to $MCP_UPSTREAM_LOG. For the gateway's bypass tests."""
import json
import os
import sys

LOG = os.environ.get("MCP_UPSTREAM_LOG", "/dev/null")
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if not isinstance(m, dict):
        continue
    method, mid = m.get("method"), m.get("id")
    if method == "tools/call":
        p = m.get("params") or {}
        with open(LOG, "a") as f:
            f.write(json.dumps({"tool": p.get("name"), "args": p.get("arguments")}) + "\n")
        text = "sunny in " + str((p.get("arguments") or {}).get("city")) if p.get("name") == "lookup_weather" else "done"
        result = {"content": [{"type": "text", "text": text}], "isError": False, "resultType": "complete"}
    elif method == "server/discover":
        result = {"supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}}, "resultType": "complete"}
    elif method == "tools/list":
        result = {"tools": [{"name": n, "inputSchema": {"type": "object"}} for n in ("lookup_weather", "delete_everything")],
                  "resultType": "complete"}
    else:
        result = {}
    if "id" in m and method is not None:
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": mid, "result": result}) + "\n")
        sys.stdout.flush()
