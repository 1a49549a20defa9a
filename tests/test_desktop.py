"""`localgpt desktop` as a person uses it: a real window on a virtual screen (Xvfb), logged in
without a token, on services it starts itself (or finds running), one window per home.

The test starts Xvfb on a display it picks free (`-displayfd`), runs the real command against
a test home and the real API, finds the window with xdotool, reads the API's access log for the
page's login and calls, and saves a screenshot of the window to tests/artifacts/ (the path is
printed). Closing uses the window's own Ctrl+Q, or SIGTERM, which the app treats alike.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import processes
import pytest
from conftest import MODEL_INT8, ROOT, run_cli, write
from processes import log_text, wait_for
from test_daemon import free_port

from services.desktop.instance import AlreadyOpen, InstanceLock
from shared.config import load_config

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TOOLS = {"Xvfb": "xvfb", "xdotool": "xdotool", "import": "imagemagick"}
API_ONLY = "api: exec localgpt run api\n"  # the services the window needs, and no model server


def _need_tools() -> None:
    """CI installs these (.ci/run); elsewhere the test says what to install."""
    missing = [pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    try:
        import PySide6.QtWebEngineWidgets  # noqa: F401
    except ImportError:
        missing.append("the desktop extra (pip install -e '.[desktop]')")
    if missing:
        message = f"the desktop test needs {', '.join(missing)} (apt-get install ...)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def display():
    """A fresh Xvfb on a display number it picks itself; yields ':N'."""
    _need_tools()
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        number = reader.readline().strip()  # written once the server accepts clients
    assert number.isdigit(), f"Xvfb did not start (exit code {xvfb.poll()})"
    yield f":{number}"
    xvfb.terminate()
    xvfb.wait(timeout=10)


@pytest.fixture
def desktop_env(home: Path, display: str):
    """The environment of `localgpt desktop` and of the services it starts; the daemon it may
    have started is stopped at teardown."""
    procfile = write(home.parent / "Procfile", API_ONLY)
    env = processes.service_env(
        home,
        MODEL_INT8,
        DISPLAY=display,
        LOCALGPT_PORT=str(free_port()),
        LOCALGPT_PROCFILE=str(procfile),
    )
    yield env
    run_cli("daemon", "stop", "--timeout", "5", env=env)


def start_desktop(xprocess, env: dict[str, str], name: str = "desktop") -> None:
    """Run `localgpt desktop` until the page reports the view it shows."""
    processes.start_service(xprocess, name, ["desktop"], env, "desktop_view_shown")


def events(xprocess, name: str, event: str) -> list[dict]:
    found = []
    for line in log_text(xprocess, name).splitlines():
        if line.startswith("{") and f'"{event}"' in line:
            found.append(json.loads(line))
    return found


def window_titled(display: str, title: str) -> str | None:
    """The id of the visible window whose title is exactly `title`, if one is there."""
    result = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", f"^{title}$"],
        capture_output=True,
        text=True,
        env={**os.environ, "DISPLAY": display},
    )
    ids = result.stdout.split()
    return ids[0] if ids else None


def access_log(home: Path) -> list[tuple[str, str, int]]:
    lines = (home / "logs" / "api.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if '"http_request"' in line]
    return [(r["method"], r["path"], r["status"]) for r in records]


def screenshot(display: str, window: str, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    subprocess.run(
        ["import", "-window", window, str(path)],
        check=True,
        env={**os.environ, "DISPLAY": display},
        timeout=30,
    )
    print(f"screenshot: {path}")
    return path


def distinct_colours(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as image:
        return len(image.convert("RGB").getcolors(maxcolors=1_000_000) or [])


def api_answers(env: dict[str, str]) -> bool:
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{env['LOCALGPT_PORT']}/health", timeout=2).is_success
    except httpx.HTTPError:
        return False


def exited(xprocess, name: str) -> bool:
    return not xprocess.getinfo(name).isrunning()


def test_desktop_starts_the_services_logs_in_shows_chat_and_leaves_them_running(
    xprocess, home: Path, display: str, desktop_env: dict[str, str]
):
    assert not api_answers(desktop_env)
    start_desktop(xprocess, desktop_env)

    # The page says which view it shows, and the window's title follows the page's.
    shown = events(xprocess, "desktop", "desktop_view_shown")
    assert [e["view"] for e in shown] == ["chat"], shown
    window = wait_for(
        lambda: window_titled(display, "Chat · LocalGPT"), 30, "the desktop window on screen"
    )
    # Logged in by the one-time link: the code traded once, then the page's calls authorised.
    wait_for(
        lambda: ("GET", "/api/sessions", 200) in access_log(home),
        30,
        "the chat view's sessions call in the API's access log",
    )
    for call in (("GET", "/health", 200), ("GET", "/api/assistant", 200)):  # the page settled
        wait_for(lambda call=call: call in access_log(home), 30, f"{call} in the access log")
    calls = access_log(home)
    exchange = calls.index(("POST", "/auth/exchange", 200))
    assert ("GET", "/api/sessions", 200) in calls[exchange:]
    assert not [c for c in calls if c[2] == 401], calls
    assert not (home / "login-code").exists()  # used up

    # A drawn page, not an empty or black window (under load the first paint can lag the
    # page's calls: wait for it, then keep that screenshot).
    path = wait_for(
        lambda: (
            (shot := screenshot(display, window, "desktop-chat"))
            and distinct_colours(shot) > 20
            and shot
        ),
        30,
        "the page drawn in the window",
    )
    assert distinct_colours(path) > 20

    # The services were started by the window, in the background, as `localgpt daemon` does.
    daemon = json.loads((home / "run" / "daemon.json").read_text())
    assert [p["name"] for p in daemon["processes"]] == ["api"]

    # A second start brings the open window forward instead of opening another.
    second = run_cli("desktop", env=desktop_env)
    assert second.returncode == 0, second.stderr
    assert "already open" in second.stdout
    wait_for(lambda: events(xprocess, "desktop", "desktop_focus_requested"), 10, "focus request")
    assert window_titled(display, "Chat · LocalGPT") == window

    # Ctrl+Q closes the window; by default the services keep running.
    env = {**os.environ, "DISPLAY": display}
    subprocess.run(["xdotool", "windowfocus", "--sync", window], check=True, env=env)
    subprocess.run(["xdotool", "key", "ctrl+q"], check=True, env=env)
    wait_for(lambda: exited(xprocess, "desktop"), 30, "the desktop app to exit after Ctrl+Q")
    assert "keep running in the background" in log_text(xprocess, "desktop")
    assert api_answers(desktop_env)
    assert window_titled(display, "Chat · LocalGPT") is None


def test_desktop_stops_the_services_it_started_when_configured(
    xprocess, home: Path, desktop_env: dict[str, str]
):
    write(home / "config.toml", "[desktop]\nstop_services_on_close = true\n")
    start_desktop(xprocess, desktop_env, name="desktop-stops")
    assert api_answers(desktop_env)
    api_pid = json.loads((home / "run" / "daemon.json").read_text())["processes"][0]["pid"]

    os.kill(xprocess.getinfo("desktop-stops").pid, signal.SIGTERM)  # as closing the window
    wait_for(lambda: exited(xprocess, "desktop-stops"), 30, "the desktop app to exit")
    assert "Stopped the services this window started" in log_text(xprocess, "desktop-stops")
    assert not api_answers(desktop_env)
    assert not (home / "run" / "daemon.json").exists()
    assert not Path(f"/proc/{api_pid}").exists() or "Z" in _state(api_pid)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_desktop_uses_running_services_and_never_stops_them(
    xprocess, services, home: Path, desktop_env: dict[str, str]
):
    services("api-outside", ["run", "api"], desktop_env, "Uvicorn running")
    write(home / "config.toml", "[desktop]\nstop_services_on_close = true\n")
    start_desktop(xprocess, desktop_env, name="desktop-outside")
    assert [e["view"] for e in events(xprocess, "desktop-outside", "desktop_view_shown")] == [
        "chat"
    ]
    assert not (home / "run" / "daemon.json").exists()  # nothing started

    os.kill(xprocess.getinfo("desktop-outside").pid, signal.SIGTERM)
    wait_for(lambda: exited(xprocess, "desktop-outside"), 30, "the desktop app to exit")
    assert api_answers(desktop_env)  # not the window's to stop


def test_a_second_window_is_refused_when_the_first_does_not_answer(home: Path, config):
    """The lock is held (here by this test) but nobody listens on the focus socket."""
    with InstanceLock(config.desktop_lock_file):
        with pytest.raises(AlreadyOpen) as caught:
            InstanceLock(config.desktop_lock_file).acquire()
        assert caught.value.pid == os.getpid()
        # A Procfile that cannot start: were the lock not to refuse, nothing would be left running.
        failing = write(home.parent / "Procfile", "api: exit 3\n")
        result = run_cli("desktop", env={"DISPLAY": ":99", "LOCALGPT_PROCFILE": str(failing)})
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert f"already open (pid {os.getpid()}) (or starting) but did not answer" in message
    InstanceLock(config.desktop_lock_file).acquire()  # released with its holder


def test_desktop_without_a_screen_says_so(home: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run(
        [sys.executable, "-m", "shared.cli", "desktop"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no screen here" in result.stderr and "localgpt open" in result.stderr
    assert not load_config().desktop_lock_file.exists()  # refused before taking the lock


def test_desktop_without_its_extra_says_how_to_install_it(home: Path, monkeypatch):
    from typer.testing import CliRunner

    from shared.cli import app

    for module in ("PySide6", "PySide6.QtWebEngineWidgets"):  # as if the extra were missing
        monkeypatch.setitem(sys.modules, module, None)
    # Were the check to pass anyway, the next one ends the command before anything starts.
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = CliRunner().invoke(app, ["desktop"])
    assert result.exit_code == 1
    assert "pip install -e '.[desktop]'" in result.output


def test_desktop_says_why_when_the_services_cannot_start(home: Path):
    procfile = write(home.parent / "Procfile", "api: echo 'port in use, say' >&2; exit 3\n")
    env = {"DISPLAY": ":99", "LOCALGPT_PROCFILE": str(procfile), "LOCALGPT_PORT": str(free_port())}
    result = run_cli("desktop", env=env)
    assert result.returncode == 1
    assert "cannot start the services: api exited at start (code 3): port in use, say" in (
        result.stderr.replace("\n", " ")
    )
    assert not (home / "run" / "daemon.json").exists()  # nothing left half-started


def test_the_window_keeps_to_its_page_and_saves_downloads(display: str, tmp_path: Path):
    """Real clicks in the app's window and profile (tests/desktop_probe.py): links elsewhere,
    also target=_blank ones, go to the system browser; a download (an export) is saved; a
    link within the app navigates in the window."""
    site, downloads = tmp_path / "site", tmp_path / "downloads"
    site.mkdir()
    downloads.mkdir()
    probe = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "desktop_probe.py"), str(site), str(downloads)],
        capture_output=True,
        text=True,
        env={**os.environ, "DISPLAY": display, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result["title"] == "Links"  # the window's title follows the page's
    assert result["opened_outside"] == [
        "https://example.org/elsewhere",
        "https://example.org/popup",
    ]
    assert result["still_on"].endswith("/index.html")
    assert result["downloaded"] == "# exported chat\n"
    assert result["inside_url"].endswith("/other.html") and result["inside_title"] == "Other"
