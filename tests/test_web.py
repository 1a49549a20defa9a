"""The web page in real headless Chromium against a real API and worker.

Chromium is Debian's (`apt-get install chromium`; `.ci/run` installs it), driven by Playwright's
Python package; no browser is downloaded. Every page's requests are recorded and checked: each
/api call carries the token and nothing leaves the origin. Screenshots of every view, at laptop
and phone widths, go to tests/artifacts/ (the paths are printed) for a person to look at.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from conftest import MODEL_INT8, run_cli, write
from processes import service_env, start_service, stop_service
from test_api import free_port
from test_services import make_home

from shared.agent.assistant import _source, _with_recall
from shared.agent.session import SessionStore
from shared.agent.tools import CHAT_TOOLS, ToolContext, run_tool
from shared.agent.untrusted import frame_untrusted
from shared.memory import Memory

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
HOSTILE_NOTE = (
    "# Pranks\n\n"
    'Odd markup: <img src=x onerror="window.__pwned=1"> and <script>window.__pwned=2</script>\n'
    "A link: [click me](javascript:window.__pwned=3) about the lighthouse keeper.\n"
)
FERRY_NOTE = (
    "# 2 November\n\n"
    "Morning admin.\n\n"
    "## Travel\n\n"
    "- Booked the ferry to Hydra for the 14th\n"
    "- Seat 42, deck B\n\n"
    "## Home\n\n"
    "- Called the plumber about the kitchen tap\n"
)


@pytest.fixture(scope="module")
def web(tmp_path_factory, xprocess, embedder):
    """A real API and worker over a workspace with a travel note and a hostile one."""
    config = make_home(tmp_path_factory.mktemp("web"))
    # Short answers keep the embedded model's turns quick on a busy 2-core machine.
    with config.config_file.open("a") as handle:
        handle.write("\n[llm]\nmax_tokens = 64\n")
    write(config.workspace_dir / "memory" / "2026-11-02.md", FERRY_NOTE)
    write(config.workspace_dir / "knowledge" / "pranks.md", HOSTILE_NOTE)
    Memory(config, embedder).sync()
    port = free_port()
    # The embedded model gets a port of its own; it is started only by tests that chat.
    env = service_env(
        config.home, MODEL_INT8, LOCALGPT_PORT=str(port), LOCALGPT_LOCAL_LLM_PORT=str(free_port())
    )
    start_service(xprocess, "lg-web-api", ["run", "api"], env, "Uvicorn running on")
    start_service(xprocess, "lg-web-worker", ["run", "worker"], env, "worker_ready")
    token = (config.home / "token").read_text().strip()
    yield {"base": f"http://127.0.0.1:{port}", "token": token, "config": config, "env": env}
    stop_service(xprocess, "lg-web-api")
    stop_service(xprocess, "lg-web-worker")


@pytest.fixture(scope="module")
def llm(web, xprocess):
    """The real embedded model server (`localgpt run llm`), for chat and tasks."""
    ready = "Uvicorn running on"
    start_service(xprocess, "lg-web-llm", ["run", "llm"], web["env"], ready)
    yield
    stop_service(xprocess, "lg-web-llm")


@pytest.fixture(scope="module")
def artifacts():
    # Not emptied: other modules (test_desktop) leave their screenshots here too.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class Tab:
    """A page in a fresh browser context that records every request and script error."""

    def __init__(self, browser, web, viewport=DESKTOP):
        self.web = web
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append((r.method, r.url, r.headers)))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", self._console)

    def _console(self, message) -> None:
        # The page must live within its own CSP: a violation is a bug, not a log line.
        if re.search(r"Content.Security.Policy|Trusted ?Type", message.text, re.I):
            self.errors.append(message.text)

    def open(self, fragment: str = "") -> Tab:
        self.page.goto(f"{self.web['base']}/{fragment}")
        return self

    def sign_in(self, view: str = "chat") -> Tab:
        self.open(f"#{view}")
        self.page.fill("#login-token", self.web["token"])
        self.page.press("#login-token", "Enter")
        self.page.wait_for_selector("#shell:not([hidden])")
        return self

    def shot(self, artifacts: Path, name: str) -> Path:
        path = artifacts / f"{name}.png"
        self.page.screenshot(path=str(path))
        print(f"screenshot: {path}")
        return path

    def check_requests(self) -> None:
        """Every /api request carried the token; nothing went to another origin."""
        assert not self.errors, self.errors
        base = self.web["base"]
        api_calls = 0
        for method, url, headers in self.requests:
            assert url.startswith(base + "/") or url.startswith("data:"), url
            if url.startswith(base + "/api/"):
                api_calls += 1
                assert headers.get("authorization") == f"Bearer {self.web['token']}", (method, url)
        assert api_calls, "the page made no API calls at all"

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser, web):
    tabs: list[Tab] = []

    def make(viewport=DESKTOP) -> Tab:
        tabs.append(Tab(browser, web, viewport))
        return tabs[-1]

    yield make
    for t in tabs:
        t.close()


def test_the_page_and_its_files_are_served_with_strict_headers(web):
    base = web["base"]
    page = httpx.get(base + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "require-trusted-types-for 'script'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-cache" and page.headers.get("etag")
    # No inline script or handler anywhere in the page: every <script> loads a file.
    assert re.findall(r"<script\b[^>]*>", page.text) == [
        '<script type="module" src="/static/app.js">'
    ]
    assert not re.search(r"\son\w+=", page.text)
    for path, kind in [
        ("/static/app.js", "text/javascript"),
        ("/static/views/chat.js", "text/javascript"),
        ("/static/app.css", "text/css"),
        ("/static/icon.svg", "image/svg+xml"),
    ]:
        response = httpx.get(base + path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith(kind), path
        assert "content-security-policy" in response.headers
    # Revalidation is cheap: an unchanged file answers 304.
    etag = httpx.get(base + "/static/app.js").headers["etag"]
    assert httpx.get(base + "/static/app.js", headers={"If-None-Match": etag}).status_code == 304
    for path in ("/static/", "/static/views/", "/static/../pyproject.toml", "/static/nope.js"):
        response = httpx.get(base + path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


def test_a_wrong_token_is_refused_clearly_and_the_right_one_signs_in(tab, web, artifacts):
    t = tab().open()
    t.page.wait_for_selector("#login-token")
    t.shot(artifacts, "login-desktop")
    t.page.fill("#login-token", "not-the-token")
    t.page.click("#login-form button[type=submit]")
    error = t.page.wait_for_selector("#login-error:not([hidden])")
    assert "Wrong token" in error.text_content()
    assert t.page.evaluate("localStorage.getItem('localgpt.token')") is None
    t.shot(artifacts, "login-wrong-token-desktop")
    t.page.fill("#login-token", web["token"])
    t.page.click("#login-form button[type=submit]")
    t.page.wait_for_selector("#shell:not([hidden])")
    assert t.page.evaluate("localStorage.getItem('localgpt.token')") == web["token"]
    # The token is remembered across reloads, and logging out forgets it.
    t.page.reload()
    t.page.wait_for_selector("#shell:not([hidden])")
    t.page.click("#logout")
    t.page.wait_for_selector("#login:not([hidden])")
    assert t.page.evaluate("localStorage.getItem('localgpt.token')") is None
    t.page.reload()
    t.page.wait_for_selector("#login:not([hidden])")
    # The only request made with the wrong token was the sign-in check itself.
    wrong = [u for _, u, h in t.requests if h.get("authorization") == "Bearer not-the-token"]
    assert len(wrong) == 1 and wrong[0].endswith("/api/memory/stats")


def test_a_changed_token_signs_the_page_out_with_a_message(tab, web):
    t = tab()
    t.page.add_init_script("localStorage.setItem('localgpt.token', 'an-old-token')")
    t.open("#memory")
    error = t.page.wait_for_selector("#login-error:not([hidden])")
    assert "no longer accepted" in error.text_content()


def test_the_one_time_link_signs_in_once_and_never_reaches_the_server(tab, web, artifacts):
    done = run_cli("open", "--no-browser", env={**web["env"], "DISPLAY": ""})
    assert done.returncode == 0, done.stderr
    link = re.search(r"(http://\S+/#login=([\w-]+))", done.stdout)
    assert link, done.stdout
    url, code = link.groups()
    assert url.startswith(web["base"] + "/")

    first = tab()
    first.page.goto(url)
    first.page.wait_for_selector("#shell:not([hidden])")
    assert "login" not in first.page.url and code not in first.page.url
    assert first.page.evaluate("localStorage.getItem('localgpt.token')") == web["token"]
    assert not first.page.evaluate("history.length > 1 && location.hash.includes('login')")
    first.check_requests()
    # The code travelled only in a request body, never in a URL (nor so in an access log).
    assert all(code not in u for _, u, _ in first.requests)

    again = tab()
    again.page.goto(url)
    error = again.page.wait_for_selector("#login-error:not([hidden])")
    assert "already used" in error.text_content()
    assert again.page.evaluate("localStorage.getItem('localgpt.token')") is None
    reuse = httpx.post(web["base"] + "/auth/exchange", json={"code": code})
    assert reuse.status_code == 401 and reuse.json()["error"]["code"] == "unauthorized"


def test_search_memory_and_open_a_citation_in_the_viewer(tab, web, artifacts):
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        t = tab(viewport).sign_in("memory")
        t.page.fill("input[name=q]", "ferry to Hydra")
        t.page.press("input[name=q]", "Enter")
        first = t.page.wait_for_selector(".result a.citation")
        citation = first.text_content()
        m = re.fullmatch(r"memory/2026-11-02\.md#L(\d+)-L(\d+)", citation)
        assert m, citation
        start, end = int(m[1]), int(m[2])
        first.click()
        t.page.wait_for_selector(".line.hit")
        lines = FERRY_NOTE.split("\n")
        hits = t.page.eval_on_selector_all(
            ".line.hit",
            "rows => rows.map(r => [Number(r.dataset.n), r.querySelector('.tx').textContent])",
        )
        assert [n for n, _ in hits] == list(range(start, end + 1))
        assert [text for _, text in hits] == [lines[n - 1] or " " for n in range(start, end + 1)]
        assert "Booked the ferry to Hydra" in " ".join(text for _, text in hits)
        assert "memory/2026-11-02.md" in t.page.text_content(".viewer-head")
        assert t.page.is_visible(".line.hit")  # scrolled into view
        t.shot(artifacts, f"memory-{name}")
        t.check_requests()


def test_index_stats_update_live_and_reindex_runs_on_a_worker(tab, web, artifacts):
    before = httpx.get(
        web["base"] + "/api/memory/stats", headers={"Authorization": f"Bearer {web['token']}"}
    ).json()
    n = before["files_indexed"]
    assert before["files_on_disk"] == n and before["files_pending"] == 0
    t = tab().sign_in("memory")
    stats = t.page.locator(".stats-grid")
    stats.get_by_text(f"{n} / {n}", exact=True).wait_for()
    # A new note appears on disk: the polled stats show it pending without a reload.
    write(web["config"].workspace_dir / "memory" / "2026-11-03.md", "# 3 November\n\n- Packed\n")
    t.page.wait_for_function(
        "() => [...document.querySelectorAll('.stats-grid div')].some("
        "d => d.textContent.startsWith('Pending') && d.querySelector('dd').textContent === '1')"
    )
    t.page.get_by_role("button", name="Reindex").click()
    stats.get_by_text(f"{n + 1} / {n + 1}", exact=True).wait_for(timeout=60_000)
    t.page.get_by_text("reindex done").wait_for()
    t.shot(artifacts, "memory-stats-desktop")
    t.check_requests()


def test_hostile_memory_text_is_shown_as_text_never_run(tab, web):
    t = tab().sign_in("memory")
    t.page.fill("input[name=q]", "lighthouse keeper")
    t.page.press("input[name=q]", "Enter")
    t.page.wait_for_selector(".result a.citation").click()
    t.page.wait_for_selector(".line.hit")
    assert "<img src=x" in t.page.text_content(".lines")
    assert "<img src=x" in t.page.text_content(".results")
    t.page.wait_for_timeout(300)
    assert t.page.evaluate("window.__pwned") is None
    assert t.page.locator("main img, main script").count() == 0
    t.check_requests()


HOSTILE_MARKDOWN = [
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=2</script>",
    "[click](javascript:window.__pwned=3)",
    "[tab trick](java\tscript:window.__pwned=4)",
    "[entity](&#106;avascript:window.__pwned=5)",
    "[data](data:text/html,<script>window.__pwned=6</script>)",
    "![pic](javascript:window.__pwned=7)",
    "**<svg onload=window.__pwned=8>**",
    "`<b>code</b>` and <a href='javascript:window.__pwned=9'>raw</a>",
    "| a | b |\n|---|---|\n| <iframe src=javascript:window.__pwned=10> | x |",
    "- [x] <details open ontoggle=window.__pwned=11>",
    "> " * 500 + "deep",
]


def test_the_markdown_renderer_never_turns_input_into_markup(tab, web):
    t = tab().sign_in("chat")
    report = t.page.evaluate(
        """async (inputs) => {
          const { renderMarkdown } = await import('/static/markdown.js');
          const box = document.createElement('div');
          document.body.append(box);
          for (const text of inputs) box.append(renderMarkdown(text));
          await new Promise((r) => setTimeout(r, 300));
          const all = [...box.querySelectorAll('*')];
          return {
            tags: [...new Set(all.map((e) => e.tagName.toLowerCase()))],
            handlers: all.flatMap((e) => [...e.attributes].map((a) => a.name))
              .filter((n) => n.startsWith('on')),
            hrefs: [...box.querySelectorAll('[href]')].map((e) => e.getAttribute('href')),
            text: box.textContent,
            pwned: window.__pwned ?? null,
          };
        }""",
        HOSTILE_MARKDOWN,
    )
    assert report["pwned"] is None
    assert report["handlers"] == []
    assert set(report["tags"]) <= {
        "p", "strong", "em", "code", "pre", "span", "blockquote", "ul", "li", "table",
        "thead", "tbody", "tr", "th", "td", "div", "br",
    }, report["tags"]  # fmt: skip
    assert report["hrefs"] == []  # not one unsafe link survived
    for literal in ("<img src=x onerror=", "<script>", "<svg onload=", "<b>code</b>", "<iframe"):
        assert literal in report["text"], literal


def test_the_markdown_renderer_renders_what_assistants_write(tab, web):
    t = tab().sign_in("chat")
    out = t.page.evaluate(
        """async (text) => {
          const { renderMarkdown } = await import('/static/markdown.js');
          const box = document.createElement('div');
          box.append(renderMarkdown(text));
          const q = (s) => [...box.querySelectorAll(s)];
          return {
            h2: q('h2').map((e) => e.textContent),
            items: q('ul > li').map((e) => e.textContent),
            nested: q('li ul li').length,
            ordered: q('ol > li').length,
            strong: q('strong').map((e) => e.textContent),
            em: q('em').map((e) => e.textContent),
            code: q('pre code').map((e) => e.textContent),
            lang: q('pre').map((e) => e.dataset.lang || ''),
            links: q('a[href]').map((e) => [e.textContent, e.getAttribute('href'), e.rel]),
            citations: q('a.citation').map((e) => e.textContent),
            cells: q('td').map((e) => e.textContent),
            snake: box.textContent.includes('snake_case_name'),
            bracketless: box.textContent.includes('answer memory/2026-11-02.md#L3 ok'),
          };
        }""",
        "## Plan\n\nA **bold** and *soft* move with snake_case_name.\n\n"
        "- first\n  - inner\n- second\n\n1. one\n2. two\n\n"
        "```python\nprint('<hi>')\n```\n\n"
        "See [docs](https://example.com/a?b=1) or <https://example.org>; "
        "cited memory/2026-11-02.md#L5-L6.\n\n| k | v |\n|---|---|\n| a | 1 |\n\n"
        "An answer [memory/2026-11-02.md#L3] ok.\n",
    )
    assert out["h2"] == ["Plan"]
    assert out["strong"] == ["bold"] and out["em"] == ["soft"] and out["snake"]
    assert out["items"][:1] == ["firstinner"] and out["nested"] == 1 and out["ordered"] == 2
    assert out["code"] == ["print('<hi>')"] and out["lang"] == ["python"]
    assert ["docs", "https://example.com/a?b=1", "noopener noreferrer"] in out["links"]
    assert ["https://example.org", "https://example.org/", "noopener noreferrer"] in out["links"]
    # A citation in brackets (as the assistant writes them) is the button, brackets dropped.
    assert out["citations"] == ["memory/2026-11-02.md#L5-L6", "memory/2026-11-02.md#L3"]
    assert out["bracketless"]
    assert out["cells"] == ["a", "1"]


def test_the_page_cannot_inject_html_even_by_mistake(tab, web):
    """Trusted Types (from the CSP) make any innerHTML assignment with a string throw."""
    t = tab().sign_in("chat")
    outcome = t.page.evaluate(
        """() => { try { document.body.innerHTML = '<b>x</b>'; return 'assigned'; }
                   catch (e) { return e.name; } }"""
    )
    assert outcome == "TypeError"


# The parts below drive the chat, task and heartbeat endpoints of the API.


def test_chat_streams_a_reply_rendered_as_markdown(tab, web, llm, artifacts):
    t = tab().sign_in("chat")
    t.page.fill("textarea[name=message]", "Write three sentences about the sea.")
    t.page.press("textarea[name=message]", "Enter")
    t.page.wait_for_selector(".msg.user")
    # Streaming: the reply grows while the turn is marked as streaming, then settles.
    lengths = t.page.evaluate(
        """() => new Promise((resolve) => {
          const seen = [];
          const timer = setInterval(() => {
            const turn = document.querySelector('.msg.assistant');
            if (!turn) return;
            if (turn.querySelector('.reading')) window.__reading = true;
            const n = turn.querySelector('.msg-body .md')?.textContent.length || 0;
            if (turn.classList.contains('streaming')) { if (!seen.includes(n)) seen.push(n); }
            else if (seen.length || n || turn.querySelector('.error')) {
              clearInterval(timer);
              resolve(seen.concat([n]));
            }
          }, 20);
          setTimeout(() => { clearInterval(timer); resolve(seen); }, 300000);
        })"""
    )
    errors = t.page.locator(".msg.assistant .error").all_text_contents()
    assert not errors, errors
    assert len([n for n in lengths[:-1] if n > 0]) >= 2, f"no streamed text: {lengths}"
    assert lengths[-1] > 0
    assert t.page.evaluate("window.__reading === true")  # "Reading N tokens…" came first
    assert not t.page.query_selector(".msg.assistant .reading")  # and went with the answer
    assert "compact prompt" in t.page.text_content(".model-badge")
    # The session appears in the list and reopens with its messages.
    t.page.wait_for_selector(".session-list li")
    t.shot(artifacts, "chat-desktop")
    phone = tab(PHONE).sign_in("chat")
    phone.page.wait_for_selector(".session-list li", state="attached")
    phone.page.click(".sessions-toggle")
    phone.page.click(".session-list a.session")
    phone.page.wait_for_selector(".msg.assistant .md")
    phone.shot(artifacts, "chat-phone")
    t.check_requests()
    phone.check_requests()


def test_an_answer_shows_its_sources_while_streaming_and_they_open_the_note(
    tab, web, llm, artifacts
):
    t = tab().sign_in("chat")
    t.page.fill("textarea[name=message]", "When is my ferry to Hydra?")
    t.page.press("textarea[name=message]", "Enter")
    # The sources arrive before the model's first token, while the turn is still streaming.
    t.page.wait_for_selector(".msg.assistant.streaming details.sources a.citation", timeout=60_000)
    t.page.wait_for_selector(".msg.assistant:not(.streaming)", timeout=300_000)
    assert not t.page.query_selector(".msg.assistant .error")
    sources = t.page.text_content(".msg.assistant details.sources")
    assert "memory/2026-11-02.md#L" in sources and "Booked the ferry to Hydra" in sources
    t.shot(artifacts, "chat-sources-desktop")
    t.page.click(".msg.assistant details.sources a.citation >> nth=0")
    t.page.wait_for_selector(".view[data-view=memory]:not([hidden]) .line.hit")
    assert "Booked the ferry to Hydra" in t.page.text_content(".lines")
    t.check_requests()


def test_a_transcript_shows_tool_calls_folded_with_clickable_citations(
    tab, web, embedder, artifacts
):
    """A session written by the assistant's own code: recall, a memory_search call, a reply."""
    config = web["config"]
    session = SessionStore(config.sessions_dir).create("local/test", config.workspace_dir)
    ctx = ToolContext(config, memory_factory=lambda: Memory(config, embedder))
    typed = "When is my ferry?"
    hits = ctx.memory.search(typed, 3).results
    recalled = _with_recall(typed, [_source(n, hit) for n, hit in enumerate(hits, start=1)])
    assert recalled != typed  # the note was recalled and framed
    session.add_message({"role": "user", "content": recalled}, text=typed)
    arguments = json.dumps({"query": "ferry to Hydra"})
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "memory_search", "arguments": arguments},
    }
    session.add_message({"role": "assistant", "content": None, "tool_calls": [call]})
    outcome = run_tool(ctx, "memory_search", arguments, CHAT_TOOLS)
    content = frame_untrusted("tool memory_search", outcome.content)
    session.add_message(
        {"role": "tool", "tool_call_id": "c1", "name": "memory_search", "content": content}
    )
    session.add_message({"role": "assistant", "content": "On the **14th**."})
    ctx.close()
    citation = outcome.result["results"][0]["citation"]
    start, end = (int(n) for n in re.fullmatch(r".+#L(\d+)-L(\d+)", citation).groups())

    t = tab().sign_in("chat")
    t.page.click(f".session-list a.session >> text={typed}")
    tool = t.page.wait_for_selector("details.tool:not(.recall)")
    # The framing is not shown as typed text.
    assert t.page.text_content(".msg.user .msg-body") == typed
    assert "Recalled" in t.page.text_content("details.recall summary")
    assert "memory_search" in tool.text_content() and "hit" in tool.text_content()
    assert not tool.get_property("open").json_value()  # folded until asked
    t.page.click("details.tool:not(.recall) summary")
    t.shot(artifacts, "chat-tool-call-desktop")
    t.page.click(f"details.tool:not(.recall) a.citation >> text={citation}")
    t.page.wait_for_selector(".view[data-view=memory]:not([hidden]) .line.hit")
    rows = t.page.eval_on_selector_all(".line.hit", "rows => rows.map(r => Number(r.dataset.n))")
    assert rows == list(range(start, end + 1))
    assert "Booked the ferry to Hydra" in t.page.text_content(".lines")
    assert "<strong>" not in t.page.text_content(".msg.assistant")
    t.check_requests()


def test_post_a_task_and_watch_it_complete(tab, web, llm, artifacts):
    t = tab().sign_in("tasks")
    t.page.fill("#task-prompt", "Reply with the single word: done")
    t.page.click(".task-form button[type=submit]")
    task = t.page.wait_for_selector("details.task")
    task_id = task.get_attribute("data-id")
    t.page.wait_for_function(
        """(id) => {
          const el = document.querySelector(`details.task[data-id="${id}"]`);
          const seen = (window.__states = window.__states || []);
          if (el && !seen.includes(el.dataset.status)) seen.push(el.dataset.status);
          return el && ['succeeded', 'failed', 'cancelled'].includes(el.dataset.status);
        }""",
        arg=task_id,
        timeout=300_000,
        polling=100,
    )
    seen = t.page.evaluate("window.__states")
    final = t.page.get_attribute(f'details.task[data-id="{task_id}"]', "data-status")
    assert final == "succeeded", t.page.text_content(f'details.task[data-id="{task_id}"]')
    assert seen[0] in ("queued", "running"), seen
    result = t.page.text_content(f'details.task[data-id="{task_id}"] .result')
    assert result.strip()
    t.shot(artifacts, "tasks-desktop")
    phone = tab(PHONE).sign_in("tasks")
    phone.page.wait_for_selector("details.task")
    phone.shot(artifacts, "tasks-phone")
    t.check_requests()


def test_the_chat_header_names_the_model_and_warns_about_the_tiny_one(tab, web, artifacts):
    """Nothing better here (no Ollama, no key, nothing pulled): the embedded model answers,
    and the badge says so plainly, with the command that gets a better one."""
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        t = tab(viewport).sign_in("chat")
        badge = t.page.wait_for_selector(".model-badge.warn")
        text = badge.text_content()
        assert text.startswith(
            "local/smollm2-135m-instruct · compact prompt: the tiny offline model, often wrong"
        )
        assert badge.query_selector("code").text_content() == "localgpt models pull qwen2.5-1.5b"
        title = badge.get_attribute("title")
        assert title.startswith("answers come from the tiny offline model")
        assert "Chosen because nothing better found" in title
        assert badge.is_visible() and badge.bounding_box()["width"] > 0
        t.shot(artifacts, f"chat-model-warning-{name}")
        t.check_requests()


def test_heartbeat_status_is_shown(tab, web, artifacts):
    # A manual tick records a real decision (the template HEARTBEAT.md has no tasks yet).
    done = run_cli("heartbeat", "run", "--timeout", "1", env=web["env"])
    assert "decision: empty-heartbeat-file" in done.stdout, done.stdout + done.stderr
    status = httpx.get(
        web["base"] + "/api/heartbeat/status",
        headers={"Authorization": f"Bearer {web['token']}"},
    ).json()
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        t = tab(viewport).sign_in("heartbeat")
        t.page.wait_for_selector(".stat-row")
        summary = t.page.text_content(".hb-summary")
        assert ("enabled" if status["enabled"] else "disabled") in summary
        if status.get("interval"):
            assert f"every {status['interval']}" in summary
        assert status["next_due"] and "in " in t.page.text_content(".stat:nth-child(3)")
        row = t.page.wait_for_selector("table.decisions tr[data-kind=empty-heartbeat-file]")
        assert "manual" in row.text_content()
        assert status["decisions"][0]["reason"] in row.text_content()
        t.shot(artifacts, f"heartbeat-{name}")
        t.check_requests()


def test_every_view_fits_a_phone_screen(tab, web, artifacts):
    t = tab(PHONE).open()
    t.page.wait_for_selector("#login-token")
    t.shot(artifacts, "login-phone")
    t.sign_in("chat")
    for view in ("chat", "memory", "notes", "tasks", "heartbeat", "jobs", "cron", "settings"):
        t.page.click(f"nav a[data-view={view}]")
        t.page.wait_for_selector(f".view[data-view={view}]:not([hidden])")
        t.page.wait_for_timeout(300)
        overflow = t.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{view} scrolls sideways by {overflow}px"
        assert t.page.is_visible("nav a[data-view=heartbeat]")
    t.shot(artifacts, "nav-phone")


def test_the_keyboard_is_enough(tab, web):
    t = tab().sign_in("chat")
    t.page.locator("body").press("2")
    t.page.wait_for_selector(".view[data-view=memory]:not([hidden])")
    t.page.locator("body").press("/")
    assert t.page.evaluate("document.activeElement.name") == "q"
    t.page.keyboard.type("plumber")
    t.page.keyboard.press("Enter")
    t.page.wait_for_selector(".result a.citation")
    # Tab reaches the citation, Enter opens it.
    for _ in range(6):
        t.page.keyboard.press("Tab")
        if t.page.evaluate("document.activeElement.classList.contains('citation')"):
            break
    assert t.page.evaluate("document.activeElement.classList.contains('citation')")
    outline = t.page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), "focus must be visible"
    t.page.keyboard.press("Enter")
    t.page.wait_for_selector(".line.hit")
    hits = t.page.eval_on_selector_all(".line.hit", "rows => rows.map(r => r.textContent)")
    assert "Called the plumber" in " ".join(hits)
    t.page.locator("body").press("5")  # Chat, Memory, Notes, Tasks, Heartbeat, ...
    t.page.wait_for_selector(".view[data-view=heartbeat]:not([hidden])")
    t.check_requests()


def test_a_session_can_be_deleted_from_the_list(tab, web):
    config = web["config"]
    session = SessionStore(config.sessions_dir).create("local/test", config.workspace_dir)
    session.add_message(
        {"role": "user", "content": "Throwaway question"}, text="Throwaway question"
    )
    session.add_message({"role": "assistant", "content": "Throwaway answer"})
    t = tab().sign_in("chat")
    t.page.on("dialog", lambda dialog: dialog.accept())
    t.page.click("button[aria-label='Delete session Throwaway question']")
    t.page.wait_for_selector(".session-list >> text=Throwaway question", state="detached")
    gone = httpx.get(
        f"{web['base']}/api/sessions/{session.id}",
        headers={"Authorization": f"Bearer {web['token']}"},
    )
    assert gone.status_code == 404
    t.check_requests()


def test_a_streaming_reply_can_be_stopped(tab, web, llm):
    t = tab().sign_in("chat")
    t.page.fill("textarea[name=message]", "Write a long story about the sea.")
    t.page.press("textarea[name=message]", "Enter")
    t.page.wait_for_selector(".msg.assistant.streaming", state="attached")
    t.page.click("button:has-text('Stop')")
    t.page.wait_for_selector(".msg.assistant:not(.streaming)")
    assert "Stopped." in t.page.text_content(".msg.assistant")
    assert t.page.is_hidden("button:has-text('Stop')")
    assert t.page.is_enabled(".composer button[type=submit]")
    t.check_requests()


def test_the_jobs_view_shows_every_kind_of_work_and_a_runs_error(tab, web, artifacts):
    headers = {"Authorization": f"Bearer {web['token']}"}
    # Whether the embedded model runs (other tests start it) or not, the task ends: with an
    # answer, or failed with a one-line reason.
    task = httpx.post(
        f"{web['base']}/api/tasks", json={"prompt": "Reply with the word: planned"},
        headers=headers,
    ).json()  # fmt: skip
    httpx.post(f"{web['base']}/api/memory/reindex", json={}, headers=headers)
    t = tab().sign_in("jobs")
    t.page.click(".chips[aria-label='Filter by kind'] button[data-value=task]")
    row = f'details.job[data-id="{task["id"]}"]'
    t.page.wait_for_selector(
        f'{row}[data-state="failed"], {row}[data-state="succeeded"]', timeout=300_000
    )
    t.page.click(f"{row} summary")
    t.page.wait_for_selector(f"{row} .result, {row} pre.error")
    assert "Reply with the word" in t.page.text_content(f"{row} summary")
    assert "attempt 1" in t.page.text_content(f"{row} .task-body")
    t.page.click(".chips[aria-label='Filter by kind'] button[data-value=all]")
    t.page.wait_for_selector("details.job[data-kind=reconcile], details.job[data-kind=index_paths]")
    assert "succeeded" in t.page.text_content(".view[data-view=jobs] p.meta")
    t.shot(artifacts, "jobs-desktop")
    phone = tab(PHONE).sign_in("jobs")
    phone.page.wait_for_selector("details.job")
    phone.shot(artifacts, "jobs-phone")
    t.check_requests()


def test_a_job_is_scheduled_paused_run_and_removed_from_the_page(tab, web, artifacts):
    t = tab().sign_in("cron")
    t.page.fill("#cron-prompt", "List what is due this week")
    t.page.select_option(".cron-form select", "every")
    t.page.fill(".cron-form input[name=when]", "1s")
    t.page.click(".cron-form button[type=submit]")
    t.page.wait_for_selector(".cron-form .meta.error:has-text('shortest period is 1m')")
    t.page.fill(".cron-form input[name=when]", "0 8 * * 1-5")
    t.page.select_option(".cron-form select", "cron")
    t.page.fill(".cron-form input[name=tz]", "Europe/Paris")
    t.page.fill(".cron-form input[name=name]", "weekly-review")
    t.page.click(".cron-form button[type=submit]")
    item = "details.schedule[data-name=weekly-review]"
    t.page.wait_for_selector(f"{item}[data-status=active]")
    assert "cron 0 8 * * 1-5 (Europe/Paris)" in t.page.text_content(f"{item} summary")
    t.page.click(f"{item} summary")
    t.page.click(f"{item} button:has-text('Pause')")
    t.page.wait_for_selector(f"{item}[data-status=paused]")
    t.page.click(f"{item} button:has-text('Run now')")
    t.page.wait_for_selector(f"{item} ul.runs li")
    t.shot(artifacts, "cron-desktop")
    phone = tab(PHONE).sign_in("cron")
    phone.page.wait_for_selector(item)
    phone.shot(artifacts, "cron-phone")
    t.page.on("dialog", lambda dialog: dialog.accept())
    t.page.click(f"{item} button:has-text('Remove')")
    t.page.wait_for_selector(item, state="detached")
    t.check_requests()
