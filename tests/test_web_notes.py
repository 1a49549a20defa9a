"""The page as a full client of the memory, in real headless Chromium against a real API and
worker: the notes tree, viewing and editing with a conflict, today's log, the settings view,
and the chat basics (copy, rename, search, export, a failed turn kept, a pasted login link).

No model server runs for this module (its port is closed), so a chat turn fails the way it does
when the model is down: the failure itself is what is tested. Screenshots (laptop, phone, dark)
go to tests/artifacts/notes/ for a person to look at.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from datetime import date
from pathlib import Path

import httpx
import pytest
from conftest import MODEL_INT8, run_cli, write
from playwright.sync_api import expect
from processes import service_env, start_service, stop_service
from test_api import free_port
from test_services import make_home
from test_web import DESKTOP, PHONE, Tab

from shared.agent.clock import user_now
from shared.agent.session import STOPPED_TYPE, SessionStore
from shared.memory import Memory

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "notes"
TRIP = (
    "# Trip to Hydra\n\n"
    "Booked the **ferry** for the 14th.\n\n"
    "- Seat 42, deck B\n"
    "- [ ] Pack the snorkel\n\n"
    "```\nferry --from piraeus\n```\n"
)
REPLY = "Here is the command:\n\n```sh\nlocalgpt memory search ferry\n```\n\nThat finds it."


@pytest.fixture(scope="module")
def web(tmp_path_factory, xprocess, embedder):
    config = make_home(tmp_path_factory.mktemp("web-notes"))
    write(config.workspace_dir / "knowledge" / "trip.md", TRIP)
    write(config.workspace_dir / "memory" / "2026-11-02.md", "# 2026-11-02\n\n- Plumber\n")
    write(config.workspace_dir / ".obsidian" / "workspace.md", "# app state, not a note\n")
    Memory(config, embedder).sync()
    port = free_port()
    env = service_env(
        config.home, MODEL_INT8, LOCALGPT_PORT=str(port), LOCALGPT_LOCAL_LLM_PORT=str(free_port())
    )
    start_service(xprocess, "lg-webn-api", ["run", "api"], env, "Uvicorn running on")
    start_service(xprocess, "lg-webn-worker", ["run", "worker"], env, "worker_ready")
    token = (config.home / "token").read_text().strip()
    yield {"base": f"http://127.0.0.1:{port}", "token": token, "config": config, "env": env}
    stop_service(xprocess, "lg-webn-api")
    stop_service(xprocess, "lg-webn-worker")


@pytest.fixture(scope="module")
def artifacts():
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


class NotesTab(Tab):
    """A Tab (see test_web) with a colour scheme and the clipboard allowed."""

    def __init__(self, browser, web, viewport=DESKTOP, scheme="light"):
        super().__init__(browser, web, viewport)
        self.context.close()
        self.context = browser.new_context(viewport=viewport, color_scheme=scheme)
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=web["base"])
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.page.on("request", lambda r: self.requests.append((r.method, r.url, r.headers)))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", self._console)

    def clipboard(self) -> str:
        return self.page.evaluate("navigator.clipboard.readText()")

    def fits(self, selector: str) -> None:
        """No element matching `selector` is wider than its box (nothing sticks out)."""
        over = self.page.evaluate(
            """(s) => [...document.querySelectorAll(s)]
                 .filter((e) => e.offsetParent && e.scrollWidth > e.clientWidth + 1)
                 .map((e) => e.className + ': ' + e.textContent.slice(0, 80))""",
            selector,
        )
        assert not over, over


@pytest.fixture
def tab(browser, web):
    tabs: list[NotesTab] = []

    def make(viewport=DESKTOP, scheme="light") -> NotesTab:
        tabs.append(NotesTab(browser, web, viewport, scheme))
        return tabs[-1]

    yield make
    for t in tabs:
        t.close()


def api(web, method: str, path: str, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {web['token']}"}
    return httpx.request(method, web["base"] + path, headers=headers, timeout=60, **kwargs)


def test_the_tree_shows_markdown_notes_and_a_note_renders_as_markdown(tab, web, artifacts):
    t = tab().sign_in("notes")
    t.page.wait_for_selector("a.note-link[data-path='knowledge/trip.md']")
    paths = t.page.eval_on_selector_all("a.note-link", "els => els.map((e) => e.dataset.path)")
    assert {"MEMORY.md", "HEARTBEAT.md", "knowledge/trip.md", "memory/2026-11-02.md"} <= set(paths)
    assert not any(p.startswith(".") or "/." in p for p in paths)
    assert t.page.is_visible("summary.dir:has-text('knowledge/')")
    t.page.click("a.note-link[data-path='knowledge/trip.md']")
    t.page.wait_for_selector(".note-md h1:has-text('Trip to Hydra')")
    assert t.page.text_content(".note-md strong") == "ferry"
    assert t.page.is_visible(".note-md li:has-text('Seat 42, deck B')")
    assert t.page.text_content(".note-md pre code") == "ferry --from piraeus"
    assert t.page.get_attribute("a.note-link[aria-current='true']", "data-path") == (
        "knowledge/trip.md"
    )
    t.shot(artifacts, "notes-view")
    t.check_requests()


def test_editing_a_note_that_changed_meanwhile_offers_reload_or_keep(tab, web, artifacts):
    path = web["config"].workspace_dir / "knowledge" / "trip.md"
    t = tab().sign_in("notes")
    t.page.click("a.note-link[data-path='knowledge/trip.md']")
    t.page.click(".note-head button:has-text('Edit')")
    editor = t.page.locator("textarea.note-editor")
    assert editor.input_value() == TRIP
    editor.fill(TRIP + "- Mine: book the taxi\n")
    with path.open("a") as handle:  # the assistant appends while the editor is open
        handle.write("- Theirs: the ferry leaves at 7:30\n")
    t.page.click(".note-head button.save")
    conflict = t.page.wait_for_selector(".conflict[role=alert]")
    assert "changed since you opened it" in conflict.text_content()
    assert path.read_text() == TRIP + "- Theirs: the ferry leaves at 7:30\n"  # nothing lost
    t.shot(artifacts, "notes-conflict")

    t.page.click("button:has-text('Reload (drop my changes)')")
    expect(editor).to_have_value(re.compile("Theirs: the ferry leaves"))
    editor.fill(editor.input_value() + "- Mine again\n")
    with path.open("a") as handle:
        handle.write("- Theirs again\n")
    t.page.press("textarea.note-editor", "Control+s")
    t.page.wait_for_selector(".conflict[role=alert]")
    t.page.click("button:has-text('Keep mine (replace theirs)')")
    t.page.wait_for_selector(".note-md li:has-text('Mine again')")
    text = path.read_text()
    assert "- Mine again\n" in text and "Theirs again" not in text
    versions = web["config"].home / "data" / "versions" / "knowledge__trip.md"
    backups = list(versions.glob("trip.*.md"))
    assert any("Theirs again" in b.read_text() for b in backups)  # what was replaced is kept
    assert "Saved" in t.page.text_content(".note-status")
    t.check_requests()


def test_todays_log_and_a_new_note_are_created_from_the_page(tab, web, artifacts):
    config = web["config"]
    today = f"memory/{user_now(config):%Y-%m-%d}.md"
    (config.workspace_dir / today).unlink(missing_ok=True)  # a day with no log yet
    t = tab().sign_in("notes")
    t.page.click(".notes-side button:has-text('Today')")
    t.page.wait_for_selector(".missing-note:has-text('not been started')")
    assert not t.page.query_selector(".note-pane .error")
    t.page.click("button:has-text('Start today’s log')")
    t.page.wait_for_selector("textarea.note-editor")
    t.page.fill("textarea.note-editor", f"# {today[7:17]}\n\n- Wrote this from the page\n")
    t.page.click(".note-head button.save")
    t.page.wait_for_selector(".note-md li:has-text('Wrote this from the page')")
    assert "Wrote this from the page" in (config.workspace_dir / today).read_text()
    t.page.wait_for_selector(f"a.note-link[data-path='{today}']")

    t.page.click(".notes-side button:has-text('+ New')")
    t.page.fill("input[name=new-note]", "ideas/escape.txt")
    t.page.press("input[name=new-note]", "Enter")
    error = t.page.wait_for_selector(".note-status .error")
    assert "must end in .md" in error.text_content()
    t.page.fill("input[name=new-note]", "ideas/boat names.md")
    t.page.press("input[name=new-note]", "Enter")
    t.page.wait_for_selector("textarea.note-editor")
    assert t.page.input_value("textarea.note-editor") == "# boat names\n\n"
    assert (config.workspace_dir / "ideas" / "boat names.md").exists()
    t.check_requests()


def test_the_today_chip_in_memory_offers_to_start_a_missing_log(tab, web):
    today = web["config"].workspace_dir / f"memory/{date.today():%Y-%m-%d}.md"
    today.unlink(missing_ok=True)  # a day with no log yet
    t = tab().sign_in("memory")
    t.page.click(f".chips button:text-is('memory/{date.today():%Y-%m-%d}.md')")
    t.page.wait_for_selector(".viewer-head:has-text('does not exist yet')")
    assert not t.page.query_selector(".viewer-head .error")
    t.page.click(".viewer-head button:has-text('Start today’s log')")
    t.page.wait_for_selector(".view[data-view=notes]:not([hidden]) textarea.note-editor")
    assert today.read_text() == f"# {date.today():%Y-%m-%d}\n\n"
    t.check_requests()


def test_settings_show_the_model_and_save_the_heartbeat(tab, web, artifacts):
    config = web["config"]
    t = tab().sign_in("settings")
    t.page.wait_for_selector(".current-model")
    assert t.page.text_content(".current-model").strip()
    t.page.wait_for_selector("ul.choices li.current .badge:has-text('in use')")
    assert t.page.is_checked("#hb-enabled")

    t.page.fill("#hb-zone", "Mars/Olympus")
    t.page.click("button:has-text('Save heartbeat settings')")
    error = t.page.wait_for_selector(".hb-form .error[role=alert]")
    assert "not a known IANA name" in error.text_content()
    assert "Mars" not in config.config_file.read_text()

    t.page.uncheck("#hb-enabled")
    t.page.fill("#hb-start", "09:00")
    t.page.fill("#hb-end", "17:30")
    t.page.fill("#hb-zone", "Europe/Paris")
    t.page.click("button:has-text('Save heartbeat settings')")
    t.page.wait_for_selector(".hb-form .ok-text:has-text('Saved')")
    written = tomllib.loads(config.config_file.read_text())["heartbeat"]
    assert written == {
        "interval": "0", "active_start": "09:00", "active_end": "17:30",
        "timezone": "Europe/Paris",
    }  # fmt: skip
    t.page.wait_for_selector(".card .badge.off:has-text('off')")

    t.page.click("button.run-now")
    t.page.wait_for_selector(".hb-form p:has-text('Not run:'), .hb-form p:has-text('queued')")
    t.shot(artifacts, "settings")
    t.fits(".card")

    t.page.check("#hb-enabled")
    t.page.click("button:has-text('Save heartbeat settings')")
    t.page.wait_for_selector(".card .badge.ok:has-text('on')")

    t.page.click("a:has-text('Edit HEARTBEAT.md')")
    t.page.wait_for_selector(".view[data-view=notes]:not([hidden]) textarea.note-editor")
    assert t.page.text_content(".note-head h2") == "HEARTBEAT.md"
    t.check_requests()


def _session_with_code(config, title_text: str) -> str:
    session = SessionStore(config.sessions_dir).create("local/test", config.workspace_dir)
    session.add_message({"role": "user", "content": title_text}, text=title_text)
    session.add_message({"role": "assistant", "content": REPLY})
    return session.id


def test_messages_and_code_blocks_have_copy_buttons(tab, web):
    _session_with_code(web["config"], "How do I search for the ferry?")
    t = tab().sign_in("chat")
    t.page.click(".session-list a:has-text('How do I search for the ferry?')")
    t.page.wait_for_selector(".msg.assistant .code-block")
    t.page.click(".msg.assistant .code-block button.copy")
    assert t.clipboard() == "localgpt memory search ferry"
    assert t.page.text_content(".msg.assistant .code-block button.copy") == "Copied"
    t.page.click(".msg.assistant .msg-actions button.copy")
    assert t.clipboard() == REPLY
    t.page.click(".msg.user .msg-actions button.copy")
    assert t.clipboard() == "How do I search for the ferry?"
    t.check_requests()


def test_a_session_is_renamed_searched_and_exported(tab, web, artifacts):
    config = web["config"]
    session_id = _session_with_code(config, "Which deck was my seat on?")
    _session_with_code(config, "Unrelated question about soup")
    t = tab().sign_in("chat")
    t.page.click(".session-list a:has-text('Which deck was my seat on?')")
    t.page.click(".chat-head button:has-text('Rename')")
    t.page.fill(".chat-head input.title-input", "Ferry seat")
    t.page.press(".chat-head input.title-input", "Enter")
    t.page.wait_for_selector(".session-list .session-title:text-is('Ferry seat')")
    assert t.page.text_content(".chat-title") == "Ferry seat"
    assert api(web, "GET", f"/api/sessions/{session_id}").json()["title"] == "Ferry seat"

    t.page.fill("input[name=session-search]", "soup")
    t.page.wait_for_selector(".session-list .session-title:text-is('Ferry seat')", state="detached")
    assert t.page.is_visible(".session-list a:has-text('Unrelated question about soup')")
    t.page.fill("input[name=session-search]", "memory search")  # in the reply, not the title
    t.page.wait_for_selector(".session-list .session-title:text-is('Ferry seat')")
    t.page.fill("input[name=session-search]", "")

    with t.page.expect_download() as info:
        t.page.click(".chat-head button:has-text('Export')")
    download = info.value
    assert download.suggested_filename == f"ferry-seat-{session_id}.md"
    text = Path(download.path()).read_text()
    assert text.startswith("# Ferry seat\n") and "Which deck was my seat on?" in text
    assert "localgpt memory search ferry" in text
    t.shot(artifacts, "chat-renamed")
    t.check_requests()


def test_a_failed_turn_stays_in_the_session_with_its_error(tab, web, artifacts):
    question = "What time does the ferry leave?"
    t = tab().sign_in("chat")
    t.page.click("button:has-text('+ New chat')")
    t.page.fill("textarea[name=message]", question)
    t.page.press("textarea[name=message]", "Enter")
    shown = t.page.wait_for_selector(".msg.assistant .turn-error", timeout=60_000).text_content()
    assert shown.startswith("Error: ")
    # The session is listed under the question, and opening it again shows the turn and why.
    item = t.page.wait_for_selector(f".session-list a:has-text('{question}')")
    assert "1 msg" in item.text_content()
    t.page.reload()
    t.page.wait_for_selector("#shell:not([hidden])")
    t.page.click(f".session-list a:has-text('{question}')")
    t.page.wait_for_selector(f".msg.user:has-text('{question}')")
    again = t.page.wait_for_selector(".msg.assistant .turn-error")
    assert again.text_content() == shown
    t.shot(artifacts, "chat-failed-turn")
    t.check_requests()


def test_a_stopped_turn_is_shown_as_stopped(tab, web):
    config = web["config"]
    session = SessionStore(config.sessions_dir).create("local/test", config.workspace_dir)
    session.add_custom(STOPPED_TYPE, {"text": "Write a long story about the sea"})  # as the
    # assistant records a turn the user stopped (shared/agent/assistant.py)
    t = tab().sign_in("chat")
    item = t.page.wait_for_selector(".session-list a:has-text('Write a long story about the sea')")
    assert "1 msg" in item.text_content()
    item.click()
    t.page.wait_for_selector(".msg.user:has-text('Write a long story about the sea')")
    assert "Stopped." in t.page.text_content(".msg.assistant")
    t.check_requests()


def test_a_login_link_pasted_into_an_open_login_tab_signs_in(tab, web):
    t = tab().open("#chat")
    t.page.wait_for_selector("#login:not([hidden])")
    done = run_cli("open", "--no-browser", env={**web["env"], "DISPLAY": ""})
    link = re.search(r"(http://\S+/#login=[\w-]+)", done.stdout)
    assert link, done.stdout
    # Only the fragment differs from the open tab's address: the browser does not reload.
    t.page.evaluate("(url) => { window.__sameDocument = true; location.href = url; }", link[1])
    t.page.wait_for_selector("#shell:not([hidden])")
    assert t.page.evaluate("window.__sameDocument") is True  # no reload happened
    assert "login" not in t.page.url
    assert t.page.evaluate("localStorage.getItem('localgpt.token')") == web["token"]
    t.check_requests()


def test_the_delete_dialog_says_the_chat_is_archived(tab, web):
    config = web["config"]
    _session_with_code(config, "Throwaway about kites")
    t = tab().sign_in("chat")
    messages: list[str] = []

    def answer(dialog) -> None:
        messages.append(dialog.message)
        dialog.accept()

    t.page.on("dialog", answer)
    t.page.click("button[aria-label='Delete session Throwaway about kites']")
    t.page.wait_for_selector(".session-list >> text=Throwaway about kites", state="detached")
    assert "archived" in messages[0] and "cannot be undone" not in messages[0]
    assert list(config.sessions_dir.glob("*.jsonl.deleted.*"))
    t.check_requests()


@pytest.mark.parametrize(
    ("view", "scheme"), [("notes", "dark"), ("settings", "dark"), ("chat", "dark")]
)
def test_notes_settings_and_chat_fit_a_phone_in_dark_mode(tab, web, artifacts, view, scheme):
    _session_with_code(web["config"], "Phone-sized question about the ferry")
    t = tab(PHONE, scheme).sign_in(view)
    if view == "chat":
        t.page.click("button.sessions-toggle")
        t.page.click(".session-list a:has-text('Phone-sized question')")
        t.page.wait_for_selector(".msg.assistant .code-block")
        t.fits(".chat-head")
    elif view == "notes":
        t.page.click("a.note-link[data-path='knowledge/trip.md']")
        t.page.wait_for_selector(".note-md h1")
    else:
        t.page.wait_for_selector(".current-model")
        t.page.wait_for_selector(".hb-form")
    t.shot(artifacts, f"{view}-phone-{scheme}")
    width = t.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{view} is {width}px wide on a {PHONE['width']}px screen"
    t.fits(".card")
    t.check_requests()


def test_the_heartbeat_card_wraps_a_long_path(tab, web, artifacts):
    t = tab(PHONE).sign_in("heartbeat")
    t.page.wait_for_selector(".hb-summary .stat")
    long = "memory/" + "a-very-long-folder-name-without-breaks" * 3 + "/HEARTBEAT.md"
    t.page.evaluate(
        "(p) => document.querySelector('.hb-summary .stat .muted, .hb-summary .stat')"
        ".append(document.createTextNode(p))",
        long,
    )
    t.shot(artifacts, "heartbeat-long-path-phone")
    t.fits(".card")
    width = t.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
