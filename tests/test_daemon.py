"""`localgpt daemon`: the Procfile's real services in the background, their state, a clean stop,
crashes and stale pid files, and SIGKILL for what ignores SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_cli, write
from processes import wait_for
from test_log_files import finish, start_writer

pytestmark = pytest.mark.slow

PY = Path(sys.executable).name  # the daemon puts this interpreter's folder first on PATH


def procfile_names(path: Path) -> list[str]:
    """Process names straight from the Procfile text (independent of the daemon's parser)."""
    names = []
    for raw in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*\S", raw)
        if match:
            names.append(match[1])
    return names


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()  # [state, ppid, pgrp, session, tty_nr, ...]


def gone(pid: int) -> bool:
    """Exited (a zombie waiting for a reaper that is not us counts as gone)."""
    stat = proc_stat(pid)
    return stat is None or stat[0] in ("Z", "X")


def pids(home: Path) -> dict[str, int]:
    data = json.loads((home / "run" / "daemon.json").read_text())
    return {p["name"]: p["pid"] for p in data["processes"]}


def status(env: dict[str, str] | None = None, *args: str) -> tuple[int, dict[str, dict]]:
    result = run_cli("daemon", "status", "--json", *args, env=env)
    return result.returncode, {s["name"]: s for s in json.loads(result.stdout)["services"]}


@pytest.fixture
def daemon_home(home: Path):
    """A home whose daemon is always stopped at teardown, and every recorded pid killed."""
    env = {"LOCALGPT_PORT": str(free_port()), "LOCALGPT_LOCAL_LLM_PORT": str(free_port())}
    yield home, env
    run_cli("daemon", "stop", "--timeout", "5", env=env)
    pid_file = home / "run" / "daemon.json"
    if pid_file.exists():
        for pid in pids(home).values():
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


def log_lines(home: Path, name: str) -> list[dict]:
    path = home / "logs" / f"{name}.jsonl"
    if not path.exists():
        return []
    out = []
    for raw in path.read_text().splitlines():
        try:
            out.append(json.loads(raw))
        except ValueError:
            continue
    return out


def test_the_procfile_services_run_detached_report_state_and_stop(daemon_home):
    home, env = daemon_home
    names = procfile_names(ROOT / "Procfile")
    assert names, "the repo's Procfile lists no process"

    result = run_cli("daemon", "start", env=env)
    assert result.returncode == 0, result.stderr
    running = pids(home)
    assert list(running) == names
    for name, pid in running.items():
        assert f"started {name} (pid {pid})" in result.stdout
        state, _ppid, pgrp, session, tty = proc_stat(pid)[:5]
        assert state not in ("Z", "X")
        assert (int(pgrp), int(session), int(tty)) == (pid, pid, 0)  # own session, no terminal
        assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
        assert f"run\x00{name}" in Path(f"/proc/{pid}/cmdline").read_text()  # exec'd, no shell

    # Each service writes JSON lines with the required fields to its own file.
    for name, pid in running.items():
        lines = wait_for(
            lambda n=name, p=pid: [x for x in log_lines(home, n) if x.get("pid") == p],
            90,
            f"{name}'s log lines",
        )
        assert all({"ts", "level", "event", "service", "pid"} <= line.keys() for line in lines)
        assert {line["service"] for line in lines} == {name}
    shown = run_cli("logs", "--json", "--service", names[0], env=env)
    assert {json.loads(x)["service"] for x in shown.stdout.splitlines()} == {names[0]}

    again = run_cli("daemon", "start", env=env)
    assert again.returncode == 1 and "already running" in again.stderr
    assert pids(home) == running

    code, states = status(env)
    assert code == 0
    assert {n: (s["state"], s["pid"]) for n, s in states.items()} == {
        n: ("running", p) for n, p in running.items()
    }
    assert all(s["uptime_seconds"] >= 0 and s["outside_daemon"] == 0 for s in states.values())

    # One service dies hard: status says so (exit code 1), the others still run.
    victim = names[-1]
    os.kill(running[victim], signal.SIGKILL)
    wait_for(lambda: gone(running[victim]), 10, "the killed service to go")
    code, states = status(env)
    assert code == 1
    assert states[victim]["state"] == "dead"
    assert all(states[n]["state"] == "running" for n in names if n != victim)
    assert "dead" in run_cli("daemon", "status", env=env).stdout

    # Everything dies hard: the pid file is stale; start notices, cleans it and starts afresh.
    for name in names:
        if name != victim:
            os.kill(running[name], signal.SIGKILL)
    wait_for(lambda: all(gone(p) for p in running.values()), 10, "every service to go")
    code, states = status(env)
    assert code == 1 and {s["state"] for s in states.values()} == {"dead"}
    restart = run_cli("daemon", "start", env=env)
    assert restart.returncode == 0, restart.stderr
    assert "stale pid file" in restart.stderr
    fresh = pids(home)
    assert list(fresh) == names and not set(fresh.values()) & set(running.values())

    stop = run_cli("daemon", "stop", env=env)
    assert stop.returncode == 0, stop.stderr
    for name, pid in fresh.items():
        assert f"stopped {name} (pid {pid})" in stop.stdout
        assert gone(pid)
    assert not (home / "run" / "daemon.json").exists()
    code, states = status(env)
    assert code == 3 and {s["state"] for s in states.values()} == {"stopped"}
    assert run_cli("daemon", "stop", env=env).stdout.strip() == "not running"


SLEEPER = "import time; time.sleep(600)"
POLITE = "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); " + (
    "time.sleep(600)"
)
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); " + (
    "print('ignoring SIGTERM', flush=True); time.sleep(600)"
)
ECHO_ENV = (
    "import os, time; open('seen-' + os.environ['HONCHO_PROCESS_NAME'], 'w')"
    ".write(os.environ['PORT'] + ' ' + os.environ['GREETING'] + ' ' + os.environ['LOCALGPT_HOME']);"
    " time.sleep(600)"
)


def make_procfile(folder: Path, **commands: str) -> Path:
    lines = [f'{name}: exec {PY} -c "{code}"' for name, code in commands.items()]
    return write(folder / "Procfile", "\n".join(lines) + "\n")


def test_stop_kills_what_ignores_sigterm_and_the_procfile_env_matches_honcho(daemon_home, tmp_path):
    home, env = daemon_home
    procfile = make_procfile(tmp_path / "app", polite=POLITE, stubborn=STUBBORN, echo=ECHO_ENV)
    write(tmp_path / "app" / ".env", "GREETING=hello\n")
    opts = ["--procfile", str(procfile)]
    started = run_cli("daemon", "start", *opts, "--settle", "0.5", env=env)
    assert started.returncode == 0, started.stderr
    running = pids(home)
    assert list(running) == ["polite", "stubborn", "echo"]
    # honcho's numbering: PORT 5000 + 100 per process type; .env read from beside the Procfile.
    seen = wait_for(lambda: (tmp_path / "app" / "seen-echo.1").is_file(), 20, "the echo process")
    assert seen and (tmp_path / "app" / "seen-echo.1").read_text() == f"5200 hello {home}"

    code, states = status(env)  # no --procfile: the one the set was started from
    assert code == 0 and list(states) == ["polite", "stubborn", "echo"]

    stop = run_cli("daemon", "stop", "--timeout", "1", env=env)
    assert stop.returncode == 0, stop.stderr
    assert f"stopped polite (pid {running['polite']})" in stop.stdout
    assert re.search(r"stubborn \(pid \d+\) did not stop within 1 s.*SIGKILL", stop.stderr, re.S)
    assert all(gone(pid) for pid in running.values())
    assert not (home / "run" / "daemon.json").exists()


def test_a_service_that_exits_at_start_fails_the_start_and_stops_the_rest(daemon_home, tmp_path):
    home, env = daemon_home
    procfile = make_procfile(
        tmp_path, fine=SLEEPER, broken="import sys; sys.exit('config.toml is broken')"
    )
    result = run_cli("daemon", "start", "--procfile", str(procfile), "--settle", "5", env=env)
    assert result.returncode == 1
    assert "broken exited at start (code 1): config.toml is broken" in " ".join(
        result.stderr.split()
    )
    assert "Traceback" not in result.stderr
    assert not (home / "run" / "daemon.json").exists()
    fine = [
        line.split()[0]
        for line in subprocess.run(
            ["ps", "-eo", "pid,args"], capture_output=True, text=True
        ).stdout.splitlines()
        if SLEEPER in line
    ]
    assert fine == [], "the healthy process must have been stopped"


def test_a_reused_pid_is_never_signalled(daemon_home, tmp_path):
    """A pid file whose pid now belongs to another process: stale, and that process survives."""
    home, env = daemon_home
    stranger = subprocess.Popen([sys.executable, "-c", SLEEPER])
    try:
        write(
            home / "run" / "daemon.json",
            json.dumps(
                {
                    "procfile": "x",
                    "processes": [
                        {
                            "name": "worker",
                            "pid": stranger.pid,
                            "start_ticks": 1,  # not the stranger's start time
                            "started_at": time.time() - 60,
                            "command": "exec localgpt run worker",
                        }
                    ],
                }
            ),
        )
        code, states = status(env)
        assert code == 1 and states["worker"]["state"] == "dead"
        assert run_cli("daemon", "stop", "--timeout", "1", env=env).returncode == 0
        assert stranger.poll() is None
        assert not (home / "run" / "daemon.json").exists()
    finally:
        stranger.kill()
        stranger.wait()


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read the Procfile"), ("# nothing here\n", "lists no processes")],
)
def test_procfile_mistakes_are_one_line_errors(daemon_home, tmp_path, content, message):
    _, env = daemon_home
    procfile = tmp_path / "Procfile"
    if content is not None:
        procfile.write_text(content)
    result = run_cli("daemon", "start", "--procfile", str(procfile), env=env)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_start_refuses_while_a_service_runs_outside_the_daemon(daemon_home, tmp_path):
    home, env = daemon_home
    outside, _ = start_writer(home / "logs", 1, service="polite")  # holds polite's log file
    try:
        procfile = make_procfile(tmp_path, polite=POLITE)
        result = run_cli("daemon", "start", "--procfile", str(procfile), env=env)
        assert result.returncode == 1
        assert "polite already running" in result.stderr
        assert not (home / "run" / "daemon.json").exists()
        code, states = status(env, "--procfile", str(procfile))
        assert code == 3
        assert (states["polite"]["state"], states["polite"]["outside_daemon"]) == ("stopped", 1)
    finally:
        finish(outside)
