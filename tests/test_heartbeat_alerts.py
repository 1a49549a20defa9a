"""Alerts: 24 h dedup by normalised text, append-only writes to today's daily log."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.heartbeat.alerts import (
    alert_digest,
    append_daily_log,
    daily_log_path,
    record_alert,
)
from shared.heartbeat.state import HeartbeatStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def test_digest_ignores_case_unicode_form_and_whitespace():
    assert alert_digest("Disk  FULL on\n/var ") == alert_digest("disk full on /var")
    assert alert_digest("Ｄisk full") == alert_digest("disk full")  # NFKC fullwidth D
    assert alert_digest("disk full") != alert_digest("disk fool")


def test_daily_log_date_is_the_users_date(workspace):
    late = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # already the 24th in Berlin
    assert daily_log_path(workspace, late, BERLIN).name == "2026-11-24.md"
    assert daily_log_path(workspace, late, ZoneInfo("UTC")).name == "2026-11-23.md"


def test_creates_file_and_folder(workspace):
    memory = workspace / "memory"
    for child in memory.iterdir():
        child.unlink()
    memory.rmdir()
    path = append_daily_log(workspace, NOW, BERLIN, "Heartbeat alert 14:00", "Backup failed\n")
    assert path == workspace / "memory" / "2026-06-01.md"
    assert path.read_text() == "# 2026-06-01\n\n## Heartbeat alert 14:00\n\nBackup failed\n"


def test_existing_content_is_preserved_byte_for_byte(workspace):
    path = workspace / "memory" / "2026-06-01.md"
    original = "# My day\r\n\r\nMet Ana — café at 10.\r\nNo trailing newline here".encode()
    path.write_bytes(original)
    inode = os.stat(path).st_ino
    append_daily_log(workspace, NOW, BERLIN, "Heartbeat alert 14:00", "Disk full")
    data = path.read_bytes()
    assert data.startswith(original)
    assert data[len(original) :] == b"\n\n## Heartbeat alert 14:00\n\nDisk full\n"
    assert os.stat(path).st_ino == inode, "appended in place, never replaced"


def test_separator_depends_on_how_the_file_ends(workspace):
    path = workspace / "memory" / "2026-06-01.md"
    for ending, separator in [("text\n", "\n"), ("text\n\n", ""), ("text", "\n\n")]:
        path.write_text(ending)
        append_daily_log(workspace, NOW, BERLIN, "H", "body")
        assert path.read_text() == ending + separator + "## H\n\nbody\n"


def test_dedup_within_24h_and_again_after(workspace, tmp_path):
    store = HeartbeatStore(tmp_path / "hb.db")
    path = workspace / "memory" / "2026-06-01.md"
    with store.transaction() as txn:
        first = record_alert(txn, workspace, "Backup failed on the NAS", NOW, ZoneInfo("UTC"))
    assert first.kind == "appended" and first.path == path
    after_first = path.read_bytes()
    with store.transaction() as txn:
        again = record_alert(
            txn,
            workspace,
            "backup  failed on the NAS",
            NOW + timedelta(hours=23, minutes=59),
            ZoneInfo("UTC"),
        )
    assert again.kind == "duplicate" and again.path is None
    assert path.read_bytes() == after_first
    with store.transaction() as txn:
        other = record_alert(txn, workspace, "Printer out of toner", NOW, ZoneInfo("UTC"))
    assert other.kind == "appended"
    with store.transaction() as txn:
        later = record_alert(
            txn,
            workspace,
            "Backup failed on the NAS",
            NOW + timedelta(hours=24, minutes=1),
            ZoneInfo("UTC"),
        )
    assert later.kind == "appended"
    assert later.path == workspace / "memory" / "2026-06-02.md"
    assert "Backup failed on the NAS" in later.path.read_text()
    assert path.read_text().count("Backup failed on the NAS") == 1


def test_a_failed_append_is_not_remembered(workspace, tmp_path):
    store = HeartbeatStore(tmp_path / "hb.db")
    (workspace / "memory" / "2026-06-01.md").mkdir()  # the append cannot open it
    with store.transaction() as txn:
        try:
            record_alert(txn, workspace, "Disk full", NOW, ZoneInfo("UTC"))
        except IsADirectoryError:
            pass
        else:
            raise AssertionError("the append should have failed")
        assert not txn.alert_seen_since(alert_digest("Disk full"), NOW - timedelta(hours=1))
