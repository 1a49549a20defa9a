"""The indexer process: keeps the memory index fresh without ever embedding anything itself.

On start it reconciles (size + mtime, then content hash) and enqueues every file that differs
from the index; then it watches the workspace and enqueues the paths each burst of events
touched; a periodic reconcile catches whatever the watcher missed. A watcher that dies is
restarted. Embedding happens only in workers, so this process stays small.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterable

from watchfiles import watch

from services.indexer.watcher import MarkdownOrDirFilter, paths_to_check
from shared.config import Config
from shared.logs import get_logger
from shared.memory import db
from shared.memory.index import MemoryIndex
from shared.queue import Queue

log = get_logger("indexer")

WATCH_CHECK_MS = 2000  # how often the watcher wakes to check the workspace is still there


def _identity(path) -> tuple[int, int] | None:
    """(device, inode) of a folder, or None if it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


class Indexer:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.workspace = config.workspace_dir
        self.queue = Queue(config)
        self.index = MemoryIndex(config, embedder=None)  # for diffs only: no model here
        self.stop = threading.Event()
        self.watcher_restarts = 0
        self._db_lock = threading.Lock()  # the watcher thread and the main loop share a connection

    # -- enqueueing -----------------------------------------------------------------------

    def reconcile(self) -> int:
        """Enqueue every file that differs from the index; returns how many."""
        started = time.monotonic()
        with self._db_lock:
            changed, removed = self.index.diff()
            self._record("indexer.last_reconcile_at")
        self._enqueue("index_paths", changed)
        self._enqueue("remove_paths", removed)
        log.info(
            "reconcile_done",
            changed=len(changed),
            removed=len(removed),
            seconds=round(time.monotonic() - started, 3),
        )
        return len(changed) + len(removed)

    def _enqueue(self, kind: str, paths: Iterable[str]) -> None:
        paths = sorted(paths)
        size = self.config.indexer.batch_files
        for start in range(0, len(paths), size):
            self.queue.enqueue(kind, paths=paths[start : start + size])

    def on_changes(self, changes: set) -> None:
        with self._db_lock:
            paths = paths_to_check(self.workspace, changes, self._indexed_under)
            self._record("indexer.last_event_at")
        if paths:
            log.info("files_changed", count=len(paths), sample=sorted(paths)[:3])
            self._enqueue("index_paths", paths)

    def _indexed_under(self, folder: str) -> list[str]:
        rows = self.index.conn.execute(
            "SELECT path FROM files WHERE path >= ? AND path < ?", (folder + "/", folder + "0")
        )
        return [row[0] for row in rows]

    def _record(self, key: str) -> None:
        with db.write_tx(self.index.conn):
            db.set_meta(self.index.conn, key, str(time.time()))

    # -- watching -------------------------------------------------------------------------

    def watch_forever(self) -> None:
        """Run the watcher until stopped, restarting it whenever it fails, ends, or the
        workspace path stops being the folder it watches (inotify follows a moved folder)."""
        settings = self.config.indexer
        while not self.stop.is_set():
            watched = _identity(self.workspace)
            if watched is None:
                self._wait_for_workspace()
                continue
            try:
                for changes in watch(
                    self.workspace,
                    watch_filter=MarkdownOrDirFilter(),
                    debounce=settings.debounce_ms,
                    step=settings.step_ms,
                    stop_event=self.stop,
                    raise_interrupt=False,
                    force_polling=settings.force_polling or None,
                    rust_timeout=WATCH_CHECK_MS,
                    yield_on_timeout=True,
                ):
                    if _identity(self.workspace) != watched:
                        log.warning("watcher_lost_workspace", workspace=str(self.workspace))
                        break
                    if changes:
                        self.on_changes(changes)
            except Exception as exc:
                log.error("watcher_failed", error=f"{exc.__class__.__name__}: {exc}")
            if not self.stop.is_set():
                self.watcher_restarts += 1
                log.warning("watcher_restarting", restarts=self.watcher_restarts)
                self.stop.wait(1.0)
                if self.workspace.is_dir():
                    self._catch_up()

    def _wait_for_workspace(self) -> None:
        log.warning(
            "workspace_missing",
            workspace=str(self.workspace),
            detail="does not exist; waiting for it to come back",
        )
        while not self.stop.is_set() and not self.workspace.is_dir():
            self.stop.wait(1.0)
        if not self.stop.is_set():
            log.info("workspace_back", workspace=str(self.workspace))
            self._catch_up()

    def _catch_up(self) -> None:
        """After a watcher gap, a reconcile finds whatever changed meanwhile."""
        try:
            self.reconcile()
        except Exception as exc:
            log.error("reconcile_failed", error=f"{exc.__class__.__name__}: {exc}")

    # -- process lifecycle ----------------------------------------------------------------

    def run(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        self._catch_up()
        watcher = threading.Thread(target=self.watch_forever, name="watcher", daemon=True)
        watcher.start()
        log.info("indexer_ready", workspace=str(self.workspace))
        interval = self.config.indexer.reconcile_interval_seconds
        while not self.stop.wait(interval if interval > 0 else None):
            self._catch_up()
        watcher.join(timeout=3)
        log.info("indexer_stopped")

    def _on_signal(self, signum: int, frame) -> None:
        log.info("indexer_stopping", signal=signal.Signals(signum).name)
        self.stop.set()
