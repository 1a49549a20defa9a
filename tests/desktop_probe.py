"""Drives the desktop window's page policy in a real Qt WebEngine, with real mouse clicks.

Run by test_desktop.py on its Xvfb screen: `python desktop_probe.py SITE_DIR DOWNLOAD_DIR`.
Serves a small page of links from SITE_DIR on loopback, opens it in the app's own window and
profile, clicks each link as a person would, and prints what happened as one JSON line.
"""

from __future__ import annotations

import functools
import http.server
import json
import sys
import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, QPoint, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from services.desktop import window as desk

PAGE = """<!doctype html><title>Links</title>
<style>a { display: block; height: 80px; font-size: 30px; }</style>
<a id="outside" href="https://example.org/elsewhere">a site elsewhere</a>
<a id="popup" href="https://example.org/popup" target="_blank">a new window elsewhere</a>
<a id="export" href="/chat.md" download="chat.md">export</a>
<a id="inside" href="/other.html">another page of the app</a>
"""


class SystemBrowser(QObject):
    """Stands in for the system browser: Qt hands it the URLs the app opens outside."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.opened.append(url.toString())


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *_: object) -> None:
        pass


def serve(site: Path) -> str:
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


def main() -> None:
    site, downloads = Path(sys.argv[1]), Path(sys.argv[2])
    (site / "index.html").write_text(PAGE)
    (site / "other.html").write_text("<!doctype html><title>Other</title><p>other")
    (site / "chat.md").write_text("# exported chat\n")
    base = serve(site)

    desk.prepare_environment()
    app = QApplication(["probe"])
    browser = SystemBrowser()
    for scheme in ("http", "https"):
        QDesktopServices.setUrlHandler(scheme, browser, "open")
    profile = desk.make_profile(app)
    profile.setDownloadPath(str(downloads))
    window = desk.DesktopWindow(f"{base}/index.html", profile)
    window.show()
    view = window.view

    def spin_until(condition, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            app.processEvents()
            if condition():
                return True
            time.sleep(0.02)
        return False

    def js(code: str):
        box: list = []
        view.page().runJavaScript(code, 0, box.append)
        spin_until(lambda: box)
        return box[0] if box else None

    def click(element_id: str) -> None:
        x, y = js(
            f"(() => {{ const r = document.getElementById('{element_id}')"
            ".getBoundingClientRect(); return `${r.x + 20},${r.y + r.height / 2}`; })()"
        ).split(",")
        x, y = float(x), float(y)
        QTest.mouseClick(view.focusProxy(), Qt.MouseButton.LeftButton, pos=QPoint(int(x), int(y)))

    result: dict = {}
    spin_until(lambda: window.windowTitle() == "Links")
    result["title"] = window.windowTitle()

    click("outside")
    spin_until(lambda: len(browser.opened) >= 1, 10)
    click("popup")
    spin_until(lambda: len(browser.opened) >= 2, 10)
    result["opened_outside"] = list(browser.opened)
    result["still_on"] = view.url().toString()

    click("export")
    saved = downloads / "chat.md"
    spin_until(lambda: saved.is_file() and saved.read_text() == "# exported chat\n", 15)
    result["downloaded"] = saved.read_text() if saved.is_file() else None

    click("inside")
    spin_until(lambda: window.windowTitle() == "Other", 10)
    result["inside_title"] = window.windowTitle()
    result["inside_url"] = view.url().toString()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
