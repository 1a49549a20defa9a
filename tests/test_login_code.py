"""One-time login codes (`localgpt open` -> `POST /auth/exchange`) and the `open` command."""

from __future__ import annotations

import json
import re
import stat
import threading
import time

import pytest
from conftest import run_cli

from shared.cli.open import page_url
from shared.login import code_path, issue_code, redeem_code


def test_a_code_is_private_and_works_exactly_once(config):
    code = issue_code(config)
    assert stat.S_IMODE(code_path(config).stat().st_mode) == 0o600
    assert redeem_code(config, code) is True
    assert redeem_code(config, code) is False
    assert not code_path(config).exists()
    assert not list(config.home.glob(".login-code*"))  # no claimed or temp files left behind


def test_wrong_empty_and_oversized_codes_are_refused_and_do_not_burn_the_code(config):
    code = issue_code(config)
    for wrong in ("", "x", code[:-1], code + "x", "a" * 10_000, code.upper()):
        assert redeem_code(config, wrong) is False, wrong
    assert redeem_code(config, code) is True


def test_an_expired_code_is_refused_and_removed(config):
    code = issue_code(config, ttl=0.05)
    time.sleep(0.1)
    assert redeem_code(config, code) is False
    assert not code_path(config).exists()


def test_only_the_newest_code_is_valid(config):
    first = issue_code(config)
    second = issue_code(config)
    assert redeem_code(config, first) is False
    assert redeem_code(config, second) is True


def test_no_code_at_all_or_a_garbled_file_is_refused(config):
    assert redeem_code(config, "anything") is False
    code_path(config).write_text("not json")
    assert redeem_code(config, "not json") is False
    code_path(config).write_text(json.dumps(["a", "list"]))
    assert redeem_code(config, "a") is False


def test_concurrent_exchanges_of_one_code_let_exactly_one_win(config):
    for _ in range(20):
        code = issue_code(config)
        wins: list[bool] = []
        barrier = threading.Barrier(8)

        def attempt(code=code, wins=wins, barrier=barrier):
            barrier.wait()
            wins.append(redeem_code(config, code))

        threads = [threading.Thread(target=attempt) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert wins.count(True) == 1, wins


@pytest.mark.parametrize(
    "host, expected",
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("localhost", "http://127.0.0.1:8000"),
        ("0.0.0.0", "http://127.0.0.1:8000"),
        ("::", "http://[::1]:8000"),
        ("::1", "http://[::1]:8000"),
        ("my-box.lan", "http://my-box.lan:8000"),
    ],
)
def test_the_link_uses_an_address_a_local_browser_can_reach(host, expected):
    assert page_url(host, 8000) == expected


def test_open_prints_a_one_time_link_for_the_configured_port(home):
    env = {"LOCALGPT_HOME": str(home), "LOCALGPT_PORT": "39999", "BROWSER": ""}
    done = run_cli("open", "--no-browser", env=env)
    assert done.returncode == 0, done.stderr
    link = re.search(r"http://127\.0\.0\.1:39999/#login=([\w-]+)", done.stdout)
    assert link, done.stdout
    assert "does not answer" in done.stderr  # nothing listens on that port: said clearly
    stored = json.loads((home / "login-code").read_text())
    assert stored["code"] == link.group(1) and stored["expires_at"] > time.time()


def test_open_does_not_fail_on_a_machine_without_a_screen(home):
    env = {"LOCALGPT_HOME": str(home), "LOCALGPT_PORT": "39998"}
    headless = {"DISPLAY": "", "WAYLAND_DISPLAY": "", "BROWSER": ""}
    done = run_cli("open", env={**env, **headless})
    assert done.returncode == 0, done.stderr
    assert "#login=" in done.stdout and "open the link yourself" in done.stdout
