"""`localgpt mcp`: serve the memory to MCP clients (Claude Desktop, Claude Code, Cursor)."""

from __future__ import annotations

import contextlib
import os
import sys

from shared.cli.common import fail, get_config


def mcp_command() -> None:
    """Serve the memory over MCP on stdin/stdout (what desktop MCP clients start).

    Tools: memory_search/get/append, task_add/status, memory_stats; the notes as resources.

    The API serves the same at /mcp (streamable HTTP, with the token).
    """
    from shared.logs import LogFileBusy, configure_logging
    from shared.token import token_path
    from shared.workspace import init_home

    config = get_config()
    try:  # stdout carries the protocol: logs go to stderr and logs/mcp.jsonl
        configure_logging(
            "mcp", stream=sys.stderr, log_dir=config.logs_dir, token_file=token_path(config)
        )
    except (OSError, LogFileBusy) as exc:
        fail(f"cannot open the log file of mcp: {exc}")
    except ValueError as exc:  # an unknown LOG_LEVEL
        fail(str(exc))
    init_home(config)
    from services.mcp.stdio import serve_stdio

    with contextlib.suppress(KeyboardInterrupt):
        serve_stdio(config)
    # The client closed stdin: done. Leave without running C++ destructors, which abort the
    # process ("terminate called without an active exception") when the client leaves while
    # the query encoder is still loading on its thread. Logs are written unbuffered.
    sys.stderr.flush()
    os._exit(0)
