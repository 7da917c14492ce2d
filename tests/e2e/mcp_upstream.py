"""A real MCP server (the official `mcp` package's MCPServer) used as the upstream of the gateway tests.
One harmless tool, one dangerous one, and a few that exercise CONSTRAIN, invariants and cancellation.
Every call it receives is appended to $MCP_UPSTREAM_LOG (one JSON line), so a test can prove that a
denied call never arrived. argv: [stdio] | [http PORT]."""

import asyncio
import json
import os
import sys

from mcp.server.mcpserver import MCPServer

LOG = os.environ.get("MCP_UPSTREAM_LOG", "/dev/null")
app = MCPServer("jg-test-upstream")


def log(tool, **args):
    with open(LOG, "a") as f:
        f.write(json.dumps({"tool": tool, "args": args}) + "\n")


@app.tool()
def lookup_weather(city: str) -> str:
    """Harmless: the weather in a city."""
    log("lookup_weather", city=city)
    return f"sunny in {city}"


@app.tool()
def delete_everything(path: str) -> str:
    """Dangerous: would remove everything below path."""
    log("delete_everything", path=path)
    return f"deleted {path}"


@app.tool()
def http_fetch(url: str, size: int = 0) -> str:
    """Returns a page with a secret in it (CONSTRAIN redacts and caps it)."""
    log("http_fetch", url=url, size=size)
    return "page of " + url + " password=hunter2 " + ("x" * size)


@app.tool()
def pay(amount_usd: float, payee: str) -> str:
    """Pays an amount (the policy bounds amount_usd)."""
    log("pay", amount_usd=amount_usd, payee=payee)
    return f"paid {amount_usd} to {payee}"


@app.tool()
async def slow_task(seconds: float) -> str:
    """Sleeps; logs when it was cancelled."""
    log("slow_task", seconds=seconds)
    try:
        await asyncio.sleep(seconds)
    except BaseException:
        log("slow_task_cancelled", seconds=seconds)
        raise
    return "done"


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        app.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        app.run()
