"""An MCPServer upstream for the confined-by-default test: it reports what its own process may do. Its tools
answer with what happened, never raise, so the test reads the sandbox's effect from the results."""

import os
import socket
import sys

from mcp.server.mcpserver import MCPServer

app = MCPServer("jg-confined-upstream")


@app.tool()
def lookup_weather(city: str) -> str:
    return f"sunny in {city}"


@app.tool()
def write_file(path: str) -> str:
    """Writes 'x' to path (relative: in the workspace, the start directory)."""
    try:
        with open(path, "w") as f:
            f.write("x")
        return "wrote " + os.path.abspath(path)
    except OSError as e:
        return f"blocked {type(e).__name__} errno={e.errno}"


@app.tool()
def connect(port: int) -> str:
    """A TCP connection to 127.0.0.1:port (the host's listener, if the network were shared)."""
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except OSError as e:
        return f"blocked socket errno={e.errno}"
    try:
        s.settimeout(3)
        s.connect(("127.0.0.1", port))
        return "connected"
    except OSError as e:
        return f"blocked connect errno={e.errno}"
    finally:
        s.close()


@app.tool()
def whoami() -> str:
    return f"uid={os.getuid()} cwd={os.getcwd()} python={sys.executable}"


if __name__ == "__main__":
    app.run()
