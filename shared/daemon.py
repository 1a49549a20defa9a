"""Running the Procfile's process set in the background: start, inspect and stop it.

The process list is read from the Procfile (with honcho's own parser, `.env` beside it and
honcho's PORT numbering), so `honcho start` and `localgpt daemon start` never drift apart. Each
command runs as honcho runs it (`/bin/sh -c`, `exec` replaces the shell) in a new session with no
terminal: stdin from /dev/null, stdout to /dev/null (services write their JSON logs to files
themselves), stderr appended to `logs/<name>.stderr` so a crash before logging starts is not lost.

`run/daemon.json` records each process's pid, its kernel start time and when it started. The
kernel start time (from /proc) tells a live service from an unrelated process that reused its pid
after a crash, so a stale pid file is recognised and never leads to signalling a stranger. One
`flock` on `run/daemon.lock` serialises start and stop.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from honcho.environ import expand_processes, parse, parse_procfile

from shared.config import Config
from shared.logfiles import running_writers

REPO_PROCFILE = Path(__file__).resolve().parents[1] / "Procfile"
HONCHO_BASE_PORT = 5000
STOP_TIMEOUT = 10.0
KILL_WAIT = 3.0
STDERR_KEEP_BYTES = 1024 * 1024


class DaemonError(Exception):
    """The daemon cannot do what was asked; the message says why and what to do."""


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    command: str
    env: dict[str, str]


@dataclass
class ProcessRecord:
    name: str
    pid: int
    start_ticks: int | None  # kernel start time of the pid (None where /proc is missing)
    started_at: float  # epoch seconds
    command: str


@dataclass
class ProcessState:
    name: str
    state: str  # running | dead | stopped
    pid: int | None = None
    started_at: float | None = None
    outside: int = 0  # processes of this service running against the home without the daemon

    @property
    def uptime(self) -> float | None:
        if self.state != "running" or self.started_at is None:
            return None
        return max(0.0, time.time() - self.started_at)


@dataclass
class StopResult:
    name: str
    pid: int
    outcome: str  # stopped | killed | already dead | survived SIGKILL


# --- the Procfile --------------------------------------------------------------------------------


def procfile_path() -> Path:
    """`$LOCALGPT_PROCFILE`, else the Procfile of the checkout LocalGPT runs from."""
    return Path(os.environ.get("LOCALGPT_PROCFILE") or REPO_PROCFILE).expanduser().resolve()


def read_procfile(path: Path, config: Config) -> list[ProcessSpec]:
    """The processes honcho would start from `path`, with the environment it would give them."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DaemonError(f"cannot read the Procfile {path}: {exc.strerror or exc}") from None
    try:
        procfile = parse_procfile(text)
    except AssertionError:
        raise DaemonError(f"{path} names a process twice") from None
    if not procfile.processes:
        raise DaemonError(f"{path} lists no processes (lines like `worker: exec localgpt run ...`)")
    env = dict(os.environ)
    dotenv = path.parent / ".env"
    if dotenv.is_file():
        env.update(parse(dotenv.read_text(encoding="utf-8")))
    # The children run this installation's `localgpt` against this home, activated or not.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["LOCALGPT_HOME"] = str(config.home)
    env.setdefault("PYTHONUNBUFFERED", "1")
    expanded = expand_processes(procfile.processes, env=env, port=HONCHO_BASE_PORT)
    return [ProcessSpec(name=p.name.rsplit(".", 1)[0], command=p.cmd, env=p.env) for p in expanded]


# --- processes -----------------------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) from /proc, or None without /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return fields[0], int(fields[19])


def is_alive(record: ProcessRecord) -> bool:
    """The recorded process still runs (not a zombie, not another process with its pid)."""
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: the pid was reused
    stat = _proc_stat(record.pid)
    if stat is None:
        return not Path("/proc/self/stat").exists()  # no /proc (macOS): kill(0) is all we have
    state, ticks = stat
    if state in ("Z", "X"):
        return False
    return record.start_ticks is None or ticks == record.start_ticks


def _signal_group(record: ProcessRecord, signum: int) -> None:
    """Signal the service's process group (as honcho does), so its helpers stop with it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(record.pid, signum)


def _stderr_file(config: Config, name: str) -> Path:
    path = config.logs_dir / f"{name}.stderr"
    with contextlib.suppress(OSError):
        if path.stat().st_size > STDERR_KEEP_BYTES:
            path.replace(path.with_name(path.name + ".1"))
    return path


def spawn(spec: ProcessSpec, config: Config, cwd: Path) -> subprocess.Popen:
    """Start one Procfile command detached: own session, no terminal, stdin from /dev/null."""
    config.logs_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(_stderr_file(config, spec.name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with open(fd, "ab") as stderr:
        return subprocess.Popen(
            ["/bin/sh", "-c", spec.command],
            cwd=cwd,
            env=spec.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
            close_fds=True,
        )


def last_stderr_line(config: Config, name: str) -> str | None:
    """The last non-empty line a service wrote to stderr (why it died, usually)."""
    try:
        with open(config.logs_dir / f"{name}.stderr", "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - 4096))
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    lines = [line.strip() for line in lines if line.strip()]
    return lines[-1] if lines else None


# --- the pid file --------------------------------------------------------------------------------


class Daemon:
    """The background process set of one LocalGPT home."""

    def __init__(self, config: Config, procfile: Path | None = None) -> None:
        self.config = config
        self._procfile = procfile
        self.run_dir = config.daemon_dir
        self.pid_file = self.run_dir / "daemon.json"

    @property
    def procfile(self) -> Path:
        """The one asked for, else the one the running set was started from, else the default."""
        if self._procfile is not None:
            return self._procfile
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            return Path(json.loads(self.pid_file.read_text(encoding="utf-8"))["procfile"])
        return procfile_path()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.run_dir / "daemon.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def records(self) -> list[ProcessRecord]:
        """What the pid file says was started ([] without one; a damaged one counts as stale)."""
        try:
            data = json.loads(self.pid_file.read_text(encoding="utf-8"))
            return [ProcessRecord(**item) for item in data["processes"]]
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def _write(self, records: list[ProcessRecord]) -> None:
        data = {"procfile": str(self.procfile), "processes": [asdict(r) for r in records]}
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.pid_file)

    # --- commands -------------------------------------------------------------------------------

    def start(self, settle: float = 1.5) -> tuple[list[ProcessState], bool]:
        """Start every Procfile process; returns their states and whether a stale pid file was
        cleaned. If any exits within `settle` seconds, the others are stopped and DaemonError
        says which one died and its last stderr line."""
        with self._locked():
            stale = self._clear_stale()
            self._procfile = self._procfile or procfile_path()  # not a stale file's choice
            specs = read_procfile(self.procfile, self.config)
            self._refuse_outside_runs(specs)
            started: list[tuple[ProcessRecord, subprocess.Popen]] = []
            try:
                for spec in specs:
                    proc = spawn(spec, self.config, self.procfile.parent)
                    stat = _proc_stat(proc.pid)
                    record = ProcessRecord(
                        spec.name, proc.pid, stat[1] if stat else None, time.time(), spec.command
                    )
                    started.append((record, proc))
                    self._write([r for r, _ in started])
                self._watch_start(started, settle)
            except BaseException:
                self._stop_records([r for r, _ in started], STOP_TIMEOUT)
                self.pid_file.unlink(missing_ok=True)
                raise
            return [ProcessState(r.name, "running", r.pid, r.started_at) for r, _ in started], stale

    def _clear_stale(self) -> bool:
        """Refuse while any recorded process lives; drop a pid file nothing lives behind."""
        records = self.records()
        alive = [r for r in records if is_alive(r)]
        if alive:
            running = ", ".join(f"{r.name} (pid {r.pid})" for r in alive)
            raise DaemonError(f"already running: {running}; `localgpt daemon stop` first")
        if self.pid_file.exists():
            self.pid_file.unlink()
            return True
        return False

    def _refuse_outside_runs(self, specs: list[ProcessSpec]) -> None:
        """Services already running against this home without the daemon (under honcho, say)
        hold their log files; a second set would fight them for the port and the queue."""
        busy = [s.name for s in specs if running_writers(s.name, self.config.logs_dir)]
        if busy:
            raise DaemonError(
                f"{', '.join(busy)} already running against {self.config.home} outside the "
                "daemon (honcho or `localgpt run`?); stop them first"
            )

    def _watch_start(self, started: list[tuple[ProcessRecord, subprocess.Popen]], settle: float):
        deadline = time.monotonic() + settle
        while True:
            for record, proc in started:
                code = proc.poll()
                if code is not None:
                    why = last_stderr_line(self.config, record.name)
                    raise DaemonError(
                        f"{record.name} exited at start (code {code})"
                        + (f": {why}" if why else "")
                        + f"; see {self.config.logs_dir / (record.name + '.stderr')}"
                    )
            if time.monotonic() >= deadline:
                return
            time.sleep(0.1)

    def status(self) -> list[ProcessState]:
        """Each service's state: the recorded ones, then Procfile ones never started."""
        states = []
        for record in self.records():
            state = "running" if is_alive(record) else "dead"
            states.append(ProcessState(record.name, state, record.pid, record.started_at))
        known = {s.name for s in states}
        with contextlib.suppress(DaemonError):
            for spec in read_procfile(self.procfile, self.config):
                if spec.name not in known:
                    states.append(ProcessState(spec.name, "stopped"))
        for state in states:
            ours = 1 if state.state == "running" else 0
            state.outside = max(0, running_writers(state.name, self.config.logs_dir) - ours)
        return states

    def stop(self, timeout: float = STOP_TIMEOUT) -> list[StopResult]:
        """SIGTERM every live service, wait up to `timeout`, SIGKILL what is left; drop the pid
        file. An empty result means nothing was recorded as started."""
        with self._locked():
            records = self.records()
            results = self._stop_records(records, timeout)
            self.pid_file.unlink(missing_ok=True)
            return results

    def _stop_records(self, records: list[ProcessRecord], timeout: float) -> list[StopResult]:
        live = [r for r in records if is_alive(r)]
        results = [StopResult(r.name, r.pid, "already dead") for r in records if r not in live]
        for record in live:
            _signal_group(record, signal.SIGTERM)
        left = _wait_gone(live, timeout)
        results += [StopResult(r.name, r.pid, "stopped") for r in live if r not in left]
        for record in left:
            _signal_group(record, signal.SIGKILL)
        survivors = _wait_gone(left, KILL_WAIT)
        for record in left:
            outcome = "survived SIGKILL" if record in survivors else "killed"
            results.append(StopResult(record.name, record.pid, outcome))
        order = {r.name: i for i, r in enumerate(records)}
        return sorted(results, key=lambda r: order[r.name])


def _wait_gone(records: list[ProcessRecord], timeout: float) -> list[ProcessRecord]:
    """Poll until every process is gone or `timeout` passes; returns those still alive."""
    deadline = time.monotonic() + timeout
    left = [r for r in records if is_alive(r)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [r for r in left if is_alive(r)]
    return left
