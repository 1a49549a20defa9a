"""`localgpt desktop`: the web page in a window of its own, logged in, services started if needed.

Light at import (the CLI imports it to register the command): Qt loads only when the command
runs, from the optional `desktop` extra.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from shared.cli.common import console, fail, get_config, warn

if TYPE_CHECKING:
    from services.desktop.backend import Services
    from shared.config import Config

INSTALL_HINT = "pip install -e '.[desktop]' (Qt WebEngine, about 650 MB)"


def desktop(
    stop_services: Annotated[
        bool | None,
        typer.Option(
            "--stop-services/--keep-services",
            help="When the window closes, stop the services it started "
            "(default: \\[desktop] stop_services_on_close, off).",
        ),
    ] = None,
) -> None:
    """Open LocalGPT in a desktop window, logged in; starts the services if they are not running."""
    from services.desktop.backend import ServicesUnavailable, ensure_services
    from services.desktop.instance import AlreadyOpen, InstanceLock, request_focus
    from shared.login import issue_code
    from shared.workspace import init_home

    config = get_config()
    _check_can_show_a_window()
    lock = InstanceLock(config.desktop_lock_file)
    try:
        lock.acquire()
    except AlreadyOpen as exc:
        if request_focus(config.desktop_socket):
            console.print(
                f"LocalGPT is already open (pid {exc.pid}): brought its window to the front.",
                highlight=False,
            )
            return
        fail(
            f"{exc} (or starting) but did not answer; try again in a moment, or close it "
            f"(pid {exc.pid})"
        )
    try:
        init_home(config)
        _start_logging(config)
        try:
            services = ensure_services(config, config.desktop.start_timeout)
        except ServicesUnavailable as exc:
            fail(str(exc))
        if services.started:
            console.print(
                f"Started the services against {config.home}.", highlight=False, soft_wrap=True
            )
        stop = config.desktop.stop_services_on_close if stop_services is None else stop_services
        try:
            from services.desktop.window import run_window

            run_window(f"{services.base_url}/#login={issue_code(config)}", config.desktop_socket)
        finally:
            _after_close(services, keep=not stop)
    finally:
        lock.release()


def _start_logging(config: Config) -> None:
    """JSON events on stderr (stdout is for the lines above) and in logs/desktop.jsonl."""
    from shared.logs import LogFileBusy, configure_logging
    from shared.token import token_path

    try:
        configure_logging(
            "desktop", stream=sys.stderr, log_dir=config.logs_dir, token_file=token_path(config)
        )
    except (OSError, LogFileBusy, ValueError) as exc:
        fail(f"cannot start logging: {exc}")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per health poll otherwise


def _after_close(services: Services, keep: bool) -> None:
    if not services.started:
        return  # someone else's services: theirs to stop
    if keep:
        console.print(
            "The services keep running in the background (`localgpt daemon stop` stops them).",
            highlight=False,
        )
        return
    for result in services.stop():
        if result.outcome not in ("stopped", "already dead"):
            warn(f"{result.name} (pid {result.pid}): {result.outcome}")
    console.print("Stopped the services this window started.", highlight=False)


def _qt_installed() -> bool:
    try:  # finds the module without loading Qt's libraries
        return importlib.util.find_spec("PySide6.QtWebEngineWidgets") is not None
    except ImportError:
        return False


def _check_can_show_a_window() -> None:
    """Clear errors, before anything starts, for what would otherwise fail deep inside Qt."""
    if not _qt_installed():
        fail(f"the desktop app needs its optional extra: {INSTALL_HINT}")
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        fail("no screen here (DISPLAY is not set); use `localgpt open` for a login link instead")
