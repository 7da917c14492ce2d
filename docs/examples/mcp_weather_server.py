"""The MCP server of docs/mcp.md's example: one harmless tool and one dangerous one (official `mcp` package)."""
from mcp.server.mcpserver import MCPServer

app = MCPServer("weather")


@app.tool()
def lookup_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@app.tool()
def delete_everything(path: str) -> str:
    """Removes everything below path (never let an agent call this unreviewed)."""
    return f"deleted {path}"


if __name__ == "__main__":
    app.run()
