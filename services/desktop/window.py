"""The desktop window: the web page in a Qt WebEngine view, opened at a one-time login link.

Qt WebEngine rather than pywebview: pywebview reads the page through `eval()`, which the page's
Content-Security-Policy (same-origin scripts, Trusted Types) refuses; Qt reads the page from an
isolated script world the policy does not govern, so the page keeps its policy in the window.

- The browser profile is off the record: the token the page gets lives in memory and is gone when
  the window closes (the next start logs in with a new link).
- The window shows only the page's own origin; other links open in the system browser.
- The window's title follows the page's ("Chat · LocalGPT"); the view the page shows is logged
  (`desktop_view_shown`), so a start that ends on the login form is visible in the logs.
- SIGINT and SIGTERM close the window as Ctrl+Q does, so the services are handled the same way.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import shiboken6
from PySide6.QtCore import QCoreApplication, QSocketNotifier, Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QIcon, QKeySequence, QShortcut
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWebEngineCore import (
    QWebEngineDownloadRequest,
    QWebEngineLoadingInfo,
    QWebEnginePage,
    QWebEngineProfile,
    QWebEngineScript,
    QWebEngineSettings,
)
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QApplication, QMainWindow

from services.desktop.instance import FOCUS_DONE, FOCUS_REQUEST
from shared.logs import get_logger

log = get_logger("desktop")

ICON = Path(__file__).resolve().parents[1] / "api" / "static" / "icon.svg"
# Which part of the page shows: a view's name, "login", or "" while it is still loading.
VIEW_PROBE = """(() => {
  const shell = document.getElementById('shell');
  if (shell && !shell.hidden) {
    const view = document.querySelector('#main .view:not([hidden])');
    return view ? view.dataset.view : '';
  }
  const login = document.getElementById('login');
  return login && !login.hidden ? 'login' : '';
})()"""
PROBE_INTERVAL_MS = 250
PROBE_TICKS = 240  # a minute: a page that shows nothing by then is left alone (it is logged)
EXTERNAL_SCHEMES = ("http", "https", "mailto")


def prepare_environment() -> None:
    """Settings Qt WebEngine reads at start-up (before the QApplication exists)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Chromium refuses to run its sandbox as root; a root session (CI, containers) runs
        # without it, as Chromium's own --no-sandbox.
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
        log.warning("desktop_sandbox_off", reason="running as root")
    os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--log-level=3")  # no Chromium chatter
    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)


class PageOnly(QWebEnginePage):
    """Navigates within the page's origin only; a link elsewhere opens in the system browser."""

    def __init__(self, profile: QWebEngineProfile, origin: tuple[str, str, int], parent=None):
        super().__init__(profile, parent)
        self.origin = origin

    def acceptNavigationRequest(self, url: QUrl, nav_type, is_main_frame: bool) -> bool:  # noqa: N802
        # A blob: address (a file the page made, e.g. an export) carries the page's origin.
        inner = QUrl(url.path()) if url.scheme() == "blob" else url
        if origin_of(inner) == self.origin:
            return True
        open_outside(url)
        return False

    def createWindow(self, _type) -> QWebEnginePage:  # noqa: N802
        """target=_blank: a throw-away page that hands its first address to the browser."""
        return _OpenOutside(self.profile(), self)

    def javaScriptConsoleMessage(self, level, message: str, line: int, source: str) -> None:  # noqa: N802
        log.debug("desktop_page_console", message=message, line=line, source=source)


class _OpenOutside(QWebEnginePage):
    def acceptNavigationRequest(self, url: QUrl, _nav_type, _main: bool) -> bool:  # noqa: N802
        open_outside(url)
        self.deleteLater()
        return False


def origin_of(url: QUrl) -> tuple[str, str, int]:
    """(scheme, host, port) of `url`: what same-origin compares."""
    return url.scheme(), url.host().lower(), url.port()


def open_outside(url: QUrl) -> None:
    if url.scheme() in EXTERNAL_SCHEMES:
        log.info("desktop_link_opened_outside", scheme=url.scheme())
        QDesktopServices.openUrl(url)
    else:
        log.warning("desktop_navigation_refused", scheme=url.scheme())


class DesktopWindow(QMainWindow):
    """One main window holding the page; reports the view it shows and comes forward on request."""

    def __init__(self, url: str, profile: QWebEngineProfile) -> None:
        super().__init__()
        self.setWindowTitle("LocalGPT")
        screen = QApplication.primaryScreen().availableGeometry()
        self.resize(min(1200, int(screen.width() * 0.9)), min(820, int(screen.height() * 0.9)))
        target = QUrl(url)
        self.view = QWebEngineView(self)
        self.view.setPage(PageOnly(profile, origin_of(target), self.view))
        self.view.titleChanged.connect(self._title_changed)
        self.view.loadFinished.connect(self._load_finished)
        self.view.page().loadingChanged.connect(self._loading_changed)
        self.setCentralWidget(self.view)
        self.shown_view = ""
        self._probe = QTimer(self, interval=PROBE_INTERVAL_MS, timeout=self._probe_tick)
        self._ticks = 0
        # Ctrl+Q everywhere (the platform's Quit key is empty on Windows); one shortcut per key,
        # or Qt finds it ambiguous and runs neither.
        QShortcut(QKeySequence("Ctrl+Q"), self, activated=self.close)
        self.view.load(target)

    def _title_changed(self, title: str) -> None:
        self.setWindowTitle(title or "LocalGPT")
        self._ask_view()  # the page names its view in the title when it switches views

    def _load_finished(self, ok: bool) -> None:
        if ok:
            self._ticks = 0
            self._probe.start()  # until the page settles on a view or the login form

    def _loading_changed(self, info: QWebEngineLoadingInfo) -> None:
        """A page of the app that failed to load (a link sent outside ends as "aborted")."""
        if info.status() != QWebEngineLoadingInfo.LoadStatus.LoadFailedStatus:
            return
        if info.errorDomain() == QWebEngineLoadingInfo.ErrorDomain.InternalErrorDomain:
            return  # a navigation this page refused
        log.warning(
            "desktop_page_failed",
            url=info.url().toString().split("#")[0],  # never the login code in the fragment
            error=info.errorString(),
        )

    def _probe_tick(self) -> None:
        self._ticks += 1
        if self._ticks > PROBE_TICKS:
            self._probe.stop()
            log.warning("desktop_page_shows_nothing", seconds=PROBE_TICKS * PROBE_INTERVAL_MS / 1e3)
            return
        self._ask_view()

    def _ask_view(self) -> None:
        self.view.page().runJavaScript(
            VIEW_PROBE, QWebEngineScript.ScriptWorldId.ApplicationWorld, self._view_is
        )

    def _view_is(self, name: object) -> None:
        if not isinstance(name, str) or not name:
            return
        self._probe.stop()
        if name == self.shown_view:
            return
        first, self.shown_view = not self.shown_view, name
        if name == "login" and first:
            log.warning("desktop_view_shown", view=name, note="the login link was not accepted")
        else:
            log.info("desktop_view_shown", view=name)

    def come_forward(self) -> None:
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.show()
        self.raise_()
        self.activateWindow()


class FocusServer:
    """Listens on the home's desktop socket; a second `localgpt desktop` asks for focus there."""

    def __init__(self, path: Path, window: DesktopWindow) -> None:
        self.window = window
        self.server = QLocalServer(window)
        QLocalServer.removeServer(str(path))  # a crashed window's socket file (we hold the lock)
        if not self.server.listen(str(path)):
            log.warning(
                "desktop_focus_socket_failed", path=str(path), error=self.server.errorString()
            )
            return
        self.server.newConnection.connect(self._accept)

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            conn: QLocalSocket = self.server.nextPendingConnection()
            conn.disconnected.connect(conn.deleteLater)
            conn.readyRead.connect(lambda conn=conn: self._answer(conn))
            if conn.bytesAvailable():
                self._answer(conn)

    def _answer(self, conn: QLocalSocket) -> None:
        if bytes(conn.readAll().data()).startswith(FOCUS_REQUEST.strip()):
            log.info("desktop_focus_requested")
            self.window.come_forward()
            conn.write(FOCUS_DONE)
            conn.flush()
        conn.disconnectFromServer()


def quit_on_signals(app: QApplication) -> Callable[[], None]:
    """SIGINT/SIGTERM quit the event loop (Qt's loop would otherwise never let Python see them).
    Returns the undo."""
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous_fd = signal.set_wakeup_fd(writer.fileno())
    previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGINT, signal.SIGTERM)}
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, app)

    def woken() -> None:
        reader.recv(64)
        log.info("desktop_signal_received")
        app.quit()

    notifier.activated.connect(woken)

    def undo() -> None:
        notifier.setEnabled(False)
        signal.set_wakeup_fd(previous_fd)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        reader.close()
        writer.close()

    return undo


def on_download(request: QWebEngineDownloadRequest) -> None:
    """A file the page saves (an export): into the user's download folder, as a browser does."""
    request.accept()
    log.info(
        "desktop_download", path=str(Path(request.downloadDirectory()) / request.downloadFileName())
    )


def make_profile(parent: QApplication) -> QWebEngineProfile:
    """Off the record (no storage name): nothing the page stores outlives the window."""
    profile = QWebEngineProfile(parent)
    for attribute in (
        QWebEngineSettings.WebAttribute.JavascriptCanAccessClipboard,  # the page's copy buttons
        QWebEngineSettings.WebAttribute.JavascriptCanPaste,
    ):
        profile.settings().setAttribute(attribute, True)
    profile.downloadRequested.connect(on_download)
    return profile


def run_window(url: str, focus_socket: Path) -> None:
    """Show the page at `url` until the window closes (or SIGINT/SIGTERM)."""
    prepare_environment()
    app = QApplication.instance() or QApplication(["localgpt"])
    app.setApplicationName("LocalGPT")
    app.setDesktopFileName("localgpt")
    app.setWindowIcon(QIcon(str(ICON)))
    profile = make_profile(app)
    window = DesktopWindow(url, profile)
    focus = FocusServer(focus_socket, window)
    undo_signals = quit_on_signals(app)
    window.show()
    log.info("desktop_window_opened", window_id=int(window.winId()))
    try:
        app.exec()
    finally:
        undo_signals()
        focus.server.close()
        shiboken6.delete(window)  # the page (in the window) goes before its profile (Qt's rule)
        shiboken6.delete(profile)
    log.info("desktop_window_closed")
