"""The page's dialog for a large MEMORY.md edit: the model proposes, the user decides.

The model is tests/scripted_server.py (a real model cannot be made to empty MEMORY.md on
demand); the API, the worker, the browser and the files are real.
"""

from __future__ import annotations

import json

import pytest
from conftest import MODEL_INT8, write
from processes import service_env, start_service, stop_service
from scripted_server import Reply, ScriptedServer
from test_api import free_port
from test_services import make_home
from test_web import Tab

pytestmark = pytest.mark.slow
MEMORY = "# Memory\n\n" + "".join(f"- The user's fact number {i}, kept.\n" for i in range(10))


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, xprocess):
    config = make_home(tmp_path_factory.mktemp("web-guard"))
    write(config.workspace_dir / "MEMORY.md", MEMORY)
    with ScriptedServer() as model:
        with config.config_file.open("a") as handle:
            handle.write(
                f'\n[llm]\nmodel = "openai/{model.model}"\napi_base = "{model.base_url}"\n'
                "[agent]\nauto_recall = 0\n"
            )
        port = free_port()
        env = service_env(config.home, MODEL_INT8, LOCALGPT_PORT=str(port))
        start_service(xprocess, "lg-wg-api", ["run", "api"], env, "Uvicorn running on")
        token = (config.home / "token").read_text().strip()
        yield {"base": f"http://127.0.0.1:{port}", "token": token, "config": config}, model
        stop_service(xprocess, "lg-wg-api")


def test_the_page_asks_before_a_large_memory_edit_and_applies_it_when_confirmed(
    browser,
    guarded,
):
    web, model = guarded
    arguments = json.dumps({"old": MEMORY, "new": ""})
    call = {"id": "call_1", "type": "function",
            "function": {"name": "memory_update", "arguments": arguments}}  # fmt: skip
    model.replies = [Reply(tool_calls=[call]), Reply("It needs your confirmation.")]
    memory_md = web["config"].workspace_dir / "MEMORY.md"
    tab = Tab(browser, web)
    try:
        page = tab.sign_in("chat").page
        page.fill("textarea[name=message]", "Clear my memory file")
        page.press("textarea[name=message]", "Enter")
        dialog = page.wait_for_selector(".confirm-edit")
        assert "remove 100% of MEMORY.md" in dialog.text_content()
        assert memory_md.read_text() == MEMORY, "nothing changes before the user decides"
        page.click(".confirm-edit button.danger")
        page.wait_for_selector(".confirm-edit >> text=Applied")
        assert memory_md.read_text() == ""
        versions = list((web["config"].versions_dir / "MEMORY.md").iterdir())
        assert [v.read_text() for v in versions] == [MEMORY]
        tab.check_requests()
    finally:
        tab.close()
