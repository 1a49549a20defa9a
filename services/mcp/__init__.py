"""The memory as an MCP server, for the AI tools people already use (Claude Desktop, Claude
Code, Cursor): `localgpt mcp` over stdio, and `/mcp` on the API over streamable HTTP.

Built on the official SDK (`mcp`, pinned). Both transports serve the same `LocalGPTMcp`; what
differs is the `Backend` it runs on: the API process's own state over HTTP, a state of its own
for stdio (see `services/mcp/stdio.py`).
"""

from services.mcp.server import Backend, LocalGPTMcp, build_server

__all__ = ["Backend", "LocalGPTMcp", "build_server"]
