"""`localgpt run llm`: serve the embedded model for litellm (registered by the `run` group)."""

from __future__ import annotations

from typing import Annotated

import typer

from services.host_check import is_loopback_bind
from shared.cli.common import fail, get_config


def llm_command(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default: [local_llm] host).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: [local_llm] port).")] = None,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a non-loopback address (no auth!).")
    ] = False,
) -> None:
    """Serve the local model (a pulled GGUF, else the embedded SmolLM2-135M) with llama.cpp."""
    from shared.cli.run import start_logging

    config = get_config()
    start_logging("llm", config)
    bind = host or config.local_llm.host
    if not allow_remote and not is_loopback_bind(bind):
        fail(
            f"{bind} is not a loopback address; the model server has no authentication "
            "(pass --allow-remote to bind it anyway)"
        )
    from services.llm.model import ModelUnavailable
    from services.llm.server import serve

    try:
        serve(config, bind, port)
    except ModelUnavailable as exc:
        fail(str(exc))
