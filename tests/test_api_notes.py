"""Notes, sessions and settings through the real API process (and a real worker, which indexes
what a save writes): the write route's token, confinement, conflicts and creation; session
rename, search, export and failed turns; heartbeat settings written to config.toml; run now."""

from __future__ import annotations

import os
import stat
import tomllib

import httpx
import pytest
from conftest import MODEL_INT8, write
from processes import api_client, service_env, start_service, stop_service, wait_for
from test_api import assert_error, free_port
from test_services import make_home

from shared.agent.clock import user_now
from shared.agent.session import SessionStore
from shared.memory import Memory

pytestmark = pytest.mark.slow

TRAVEL = "# Travel\n\n- Booked the ferry to Hydra for the 14th\n"


@pytest.fixture(scope="module")
def api(tmp_path_factory, xprocess, embedder):
    config = make_home(tmp_path_factory.mktemp("notes-api"))
    write(config.workspace_dir / "knowledge" / "travel.md", TRAVEL)
    write(config.workspace_dir / ".obsidian" / "hidden.md", "# not a note\n")
    Memory(config, embedder).sync()
    port = free_port()
    # No model server runs on this port: a chat turn fails as it does when the model is down.
    env = service_env(config.home, MODEL_INT8, LOCALGPT_LOCAL_LLM_PORT=str(free_port()))
    start_service(
        xprocess, "lg-notes-api", ["run", "api", "--port", str(port)], env, "Uvicorn running on"
    )
    start_service(xprocess, "lg-notes-worker", ["run", "worker"], env, "worker_ready")
    client = api_client(config.home, port)
    yield config, client
    client.close()
    stop_service(xprocess, "lg-notes-api")
    stop_service(xprocess, "lg-notes-worker")


def test_every_new_route_needs_the_token(api):
    _, client = api
    for method, path, body in [
        ("GET", "/api/memory/notes", None),
        ("GET", "/api/memory/note?path=MEMORY.md", None),
        ("PUT", "/api/memory/note", {"path": "x.md", "text": "x", "base_version": None}),
        ("PATCH", "/api/sessions/abc", {"title": "x"}),
        ("GET", "/api/sessions/abc/export", None),
        ("PUT", "/api/heartbeat/settings", {"interval": "0"}),
        ("POST", "/api/heartbeat/run", None),
        ("GET", "/api/models", None),
        ("POST", "/api/models/use", {"name": "auto"}),
    ]:
        url = client.base_url.join(path)
        missing = httpx.request(method, url, json=body)
        assert "missing bearer token" in assert_error(missing, 401, "unauthorized"), path
        wrong = httpx.request(method, url, json=body, headers={"Authorization": "Bearer nope"})
        assert_error(wrong, 401, "unauthorized")
    config, _ = api
    assert not (config.workspace_dir / "x.md").exists()


def test_the_tree_lists_markdown_notes_only_and_names_todays_log(api):
    config, client = api
    write(config.workspace_dir / "knowledge" / "photo.png", "not markdown")
    body = client.get("/api/memory/notes").json()
    paths = [n["path"] for n in body["notes"]]
    assert "knowledge/travel.md" in paths and "MEMORY.md" in paths
    assert not any(p.endswith(".png") or p.startswith(".") for p in paths)
    assert body["today"] == f"memory/{user_now(config):%Y-%m-%d}.md"


def test_a_note_is_created_once_saved_atomically_and_indexed(api):
    config, client = api
    created = client.put(
        "/api/memory/note",
        json={"path": "notes/quokka.md", "text": "# Quokka\n\nSaw a quokka on Rottnest.\n",
              "base_version": None},
    )  # fmt: skip
    assert created.status_code == 200, created.text
    saved = created.json()
    assert saved["created"] and saved["backup"] == "" and saved["job_id"]
    path = config.workspace_dir / "notes" / "quokka.md"
    assert path.read_text() == "# Quokka\n\nSaw a quokka on Rottnest.\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    opened = client.get("/api/memory/note", params={"path": "notes/quokka.md"}).json()
    assert opened["version"] == saved["version"] and opened["text"].startswith("# Quokka")
    # The worker indexes the saved note: search finds it without a watcher running.
    wait_for(
        lambda: any(
            r["path"] == "notes/quokka.md"
            for r in client.get("/api/memory/search", params={"q": "quokka Rottnest"}).json()[
                "results"
            ]
        ),
        60,
        "the saved note to be indexed",
    )
    again = client.put(
        "/api/memory/note", json={"path": "notes/quokka.md", "text": "other", "base_version": None}
    )
    assert "already exists" in assert_error(again, 409, "conflict")
    assert "Rottnest" in path.read_text()


def test_a_save_over_a_changed_note_is_refused_and_loses_nothing(api):
    config, client = api
    path = config.workspace_dir / "knowledge" / "travel.md"
    opened = client.get("/api/memory/note", params={"path": "knowledge/travel.md"}).json()
    with path.open("a") as handle:  # the assistant (or an editor) writes meanwhile
        handle.write("- Seat 42, deck B\n")
    refused = client.put(
        "/api/memory/note",
        json={"path": "knowledge/travel.md", "text": "# Travel\n\nmine\n",
              "base_version": opened["version"]},
    )  # fmt: skip
    assert "changed since you opened it" in assert_error(refused, 409, "conflict")
    assert path.read_text() == TRAVEL + "- Seat 42, deck B\n"

    latest = client.get("/api/memory/note", params={"path": "knowledge/travel.md"}).json()
    kept = client.put(
        "/api/memory/note",
        json={"path": "knowledge/travel.md", "text": "# Travel\n\nmine\n",
              "base_version": latest["version"]},
    ).json()  # fmt: skip
    assert path.read_text() == "# Travel\n\nmine\n"
    assert not kept["created"] and kept["backup"].startswith(
        "data/versions/knowledge__travel.md/travel."
    )
    assert (config.home / kept["backup"]).read_text() == TRAVEL + "- Seat 42, deck B\n"


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("../outside.md", 403, "outside the workspace"),
        ("notes/../../outside.md", 403, "outside the workspace"),
        ("/etc/outside.md", 422, "relative to the workspace"),
        ("notes/script.py", 422, "must end in .md"),
        ("notes/page.html", 422, "must end in .md"),
        (".git/config.md", 422, "hidden"),
        ("notes/.secret.md", 422, "hidden"),
        ("node_modules/x.md", 422, "hidden"),
    ],
)
def test_writes_stay_inside_the_workspace_and_to_markdown(api, path, status, fragment):
    config, client = api
    response = client.put(
        "/api/memory/note", json={"path": path, "text": "x", "base_version": None}
    )
    assert fragment in assert_error(response, status, response.json()["error"]["code"])
    assert not (config.workspace_dir.parent / "outside.md").exists()
    assert not (config.workspace_dir / ".git").exists()


def test_a_link_out_of_the_workspace_is_not_written_through(api, tmp_path):
    config, client = api
    target = tmp_path / "elsewhere.md"
    target.write_text("outside\n")
    os.symlink(target, config.workspace_dir / "linked.md")
    response = client.put(
        "/api/memory/note", json={"path": "linked.md", "text": "x", "base_version": None}
    )
    assert_error(response, 403, "forbidden")
    assert target.read_text() == "outside\n"


def test_a_link_to_a_hidden_file_in_the_workspace_is_not_written_through(api):
    config, client = api
    hidden = config.workspace_dir / ".git" / "notes.md"
    hidden.parent.mkdir()
    hidden.write_text("hidden\n")
    os.symlink(hidden, config.workspace_dir / "innocent.md")
    response = client.put(
        "/api/memory/note", json={"path": "innocent.md", "text": "x", "base_version": None}
    )
    assert "not a note" in assert_error(response, 403, "forbidden")
    assert hidden.read_text() == "hidden\n"


def test_todays_log_is_created_where_the_daily_log_writer_writes(api):
    config, client = api
    today = client.get("/api/memory/notes").json()["today"]
    missing = client.get("/api/memory/note", params={"path": today})
    assert_error(missing, 404, "not_found")
    made = client.put(
        "/api/memory/note", json={"path": today, "text": "# today\n\n", "base_version": None}
    )
    assert made.status_code == 200 and (config.workspace_dir / today).exists()


def test_a_failed_turn_is_kept_shown_and_listed(api):
    _, client = api
    failed = client.post("/api/chat", json={"message": "What did I book for Hydra?"})
    assert failed.status_code == 503, failed.text
    listed = client.get("/api/sessions").json()["sessions"]
    mine = next(s for s in listed if s["title"] == "What did I book for Hydra?")
    assert mine["messages"] == 1
    shown = client.get(f"/api/sessions/{mine['id']}").json()["messages"]
    assert shown[0] == {**shown[0], "role": "user", "content": "What did I book for Hydra?"}
    assert shown[1]["role"] == "assistant" and shown[1]["error"]


def test_sessions_are_renamed_searched_and_exported(api):
    config, client = api
    session = SessionStore(config.sessions_dir).create("local/test", config.workspace_dir)
    session.add_message({"role": "user", "content": "Plan the garden"}, text="Plan the garden")
    session.add_message(
        {"role": "assistant", "content": "Plant **tomatoes** in May."},
        sources=[{"number": 1, "citation": "knowledge/travel.md#L1-L3"}],
    )
    renamed = client.patch(f"/api/sessions/{session.id}", json={"title": "  Garden   plans "})
    assert renamed.json() == {"id": session.id, "title": "Garden plans"}
    assert client.get(f"/api/sessions/{session.id}").json()["title"] == "Garden plans"
    blank = client.patch(f"/api/sessions/{session.id}", json={"title": "   "})
    assert_error(blank, 422, "invalid_request")

    found = client.get("/api/sessions", params={"q": "TOMATOES"}).json()["sessions"]
    assert [s["id"] for s in found] == [session.id] and found[0]["title"] == "Garden plans"
    assert client.get("/api/sessions", params={"q": "zebra"}).json()["sessions"] == []

    export = client.get(f"/api/sessions/{session.id}/export")
    assert export.headers["content-type"].startswith("text/markdown")
    assert f'filename="garden-plans-{session.id}.md"' in export.headers["content-disposition"]
    text = export.text
    assert text.startswith("# Garden plans\n")
    assert "## You" in text and "Plan the garden" in text
    assert "Plant **tomatoes** in May." in text and "`knowledge/travel.md#L1-L3`" in text
    assert_error(client.get("/api/sessions/nope/export"), 404, "not_found")


def test_heartbeat_settings_are_validated_and_written_to_config(api):
    config, client = api
    before = config.config_file.read_text()
    bad = client.put(
        "/api/heartbeat/settings", json={"interval": "30m", "timezone": "Mars/Olympus"}
    )
    assert "not a known IANA name" in assert_error(bad, 422, "invalid_request")
    assert config.config_file.read_text() == before

    saved = client.put(
        "/api/heartbeat/settings",
        json={"interval": "0", "active_start": "09:00", "active_end": "17:30",
              "timezone": "Europe/Paris"},
    )  # fmt: skip
    assert saved.status_code == 200, saved.text
    written = tomllib.loads(config.config_file.read_text())
    assert written["heartbeat"] == {
        "interval": "0", "active_start": "09:00", "active_end": "17:30",
        "timezone": "Europe/Paris",
    }  # fmt: skip
    assert config.config_file.read_text().startswith(before)  # the rest kept as written
    status = client.get("/api/heartbeat/status").json()
    assert not status["enabled"] and status["timezone"] == "Europe/Paris"
    assert status["settings"]["active_end"] == "17:30"

    ran = client.post("/api/heartbeat/run").json()
    assert not ran["enqueued"] and ran["decision"] and ran["reason"]

    client.put("/api/heartbeat/settings", json={"interval": "30m"})
    assert client.get("/api/heartbeat/status").json()["enabled"]


def test_models_are_listed_and_a_bad_choice_is_refused(api):
    config, client = api
    listed = client.get("/api/models").json()
    assert listed["current"]["model"] and listed["embedded"]["model"].startswith("local/")
    before = config.config_file.read_text()
    bad = client.post("/api/models/use", json={"name": "local/no-such-model"})
    assert "no local model" in assert_error(bad, 422, "invalid_request")
    assert config.config_file.read_text() == before
    used = client.post("/api/models/use", json={"name": listed["embedded"]["model"]}).json()
    assert used["model"] == listed["embedded"]["model"] and used["notes"]
    assert tomllib.loads(config.config_file.read_text())["llm"]["model"] == used["model"]
