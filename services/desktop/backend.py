"""The services behind the desktop window: the running ones, else the daemon's, started here.

Services that already run (under `honcho start`, `localgpt daemon` or `localgpt run`) are used
as they are and never stopped by the window. Otherwise the window starts the Procfile's set with
`localgpt daemon start` semantics (detached, pid file, logs), so they keep running after it
closes unless `[desktop] stop_services_on_close` (or `--stop-services`) says otherwise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from shared.cli.open import api_is_up, page_url
from shared.config import Config
from shared.daemon import Daemon, DaemonError, StopResult, last_stderr_line

POLL_SECONDS = 0.2


class ServicesUnavailable(Exception):
    """The API neither answers nor could be started; the message says why and what to do."""


@dataclass
class Services:
    base_url: str  # the page's address, e.g. http://127.0.0.1:31327
    started: bool  # started by this window, so closing it may stop them
    daemon: Daemon

    def stop(self) -> list[StopResult]:
        """Stop what this window started (nothing otherwise)."""
        return self.daemon.stop() if self.started else []


def ensure_services(config: Config, timeout: float) -> Services:
    """Find the API, or start the services and wait up to `timeout` s for it to answer."""
    base = page_url(config.server.host, config.server.port)
    daemon = Daemon(config)
    if api_is_up(base):
        return Services(base, started=False, daemon=daemon)
    running = [s.name for s in daemon.status() if s.state == "running" or s.outside]
    if running:
        # Started by someone else a moment ago (the API takes seconds to answer), or broken.
        if _wait_for_api(base, daemon, timeout):
            return Services(base, started=False, daemon=daemon)
        raise ServicesUnavailable(
            f"{', '.join(running)} run against {config.home} but the API does not answer at "
            f"{base}; see `localgpt daemon status` and `localgpt logs --service api`"
        )
    try:
        daemon.start()
    except DaemonError as exc:
        raise ServicesUnavailable(f"cannot start the services: {exc}") from None
    try:
        if not _wait_for_api(base, daemon, timeout):
            raise ServicesUnavailable(
                f"the API did not answer at {base} within {timeout:g} s of starting; "
                f"see {config.logs_dir / 'api.stderr'} and `localgpt logs --service api`"
            )
    except BaseException:
        daemon.stop()
        raise
    return Services(base, started=True, daemon=daemon)


def _wait_for_api(base: str, daemon: Daemon, timeout: float) -> bool:
    """Poll /health until it answers; fail early when the daemon's API process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api_is_up(base):
            return True
        dead = [s.name for s in daemon.status() if s.state == "dead" and s.name == "api"]
        if dead:
            why = last_stderr_line(daemon.config, "api")
            raise ServicesUnavailable("the API exited at start" + (f": {why}" if why else ""))
        time.sleep(POLL_SECONDS)
    return False
