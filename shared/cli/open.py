"""`localgpt open`: print a one-time login link to the web page and open it in a browser.

The code travels in the URL fragment, which browsers never send to the server, so it shows up in
no request line or access log; the page trades it once for the token (`POST /auth/exchange`).
"""

from __future__ import annotations

import ipaddress
import os
import sys
import webbrowser
from typing import Annotated

import typer

from shared.cli.common import console, get_config, warn
from shared.login import CODE_TTL_SECONDS, issue_code


def open_page(
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only print the link; do not start a browser.")
    ] = False,
) -> None:
    """Open the web page, logged in by a one-time link (valid once, for 2 minutes)."""
    config = get_config()
    base = page_url(config.server.host, config.server.port)
    if not api_is_up(base):
        warn(f"the API does not answer at {base}; start it with `localgpt run api`")
    link = f"{base}/#login={issue_code(config)}"
    console.print(
        f"One-time login link (valid once, for {CODE_TTL_SECONDS // 60} minutes):\n{link}",
        highlight=False,
        soft_wrap=True,
    )
    if not no_browser and not _open_browser(link):
        console.print("[dim]No browser could be started here: open the link yourself.[/]")


def page_url(host: str, port: int) -> str:
    """The address a browser on this machine should use for the configured bind address."""
    if host in ("", "0.0.0.0", "localhost"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a host name
    return f"http://{host}:{port}"


def api_is_up(base: str) -> bool:
    import httpx  # not at module level: every service starts through the CLI

    try:
        return httpx.get(f"{base}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _open_browser(link: str) -> bool:
    """Start a graphical browser if there is one; never fails, never grabs the terminal."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("BROWSER")
    ):
        return False  # headless: webbrowser would fall back to a text browser in this terminal
    try:
        return webbrowser.open(link, new=2)
    except Exception:  # webbrowser.Error, or a broken browser setting: the link is printed anyway
        return False
