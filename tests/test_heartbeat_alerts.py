"""Alerts: 24 h dedup by normalised text, grounding in workspace lines that exist."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import write

from shared.heartbeat.alerts import alert_digest, grounding, record_alert
from shared.heartbeat.state import HeartbeatStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_digest_ignores_case_unicode_form_and_whitespace():
    assert alert_digest("Disk  FULL on\n/var ") == alert_digest("disk full on /var")
    assert alert_digest("Ｄisk full") == alert_digest("disk full")  # NFKC fullwidth D
    assert alert_digest("disk full") != alert_digest("disk fool")


def test_an_alert_is_grounded_only_by_lines_that_exist_in_a_note(workspace):
    write(workspace / "knowledge" / "plants.md", "# Plants\n\nThe fern was last watered in May.\n")
    write(workspace / "knowledge" / "secret.txt", "one\ntwo\nthree\n")
    text = (
        "Water the fern (knowledge/plants.md#L3). Also memory/2099-01-01.md#L1, "
        "knowledge/plants.md#L3-L40, knowledge/secret.txt#L1, ../outside.md#L1 and "
        "knowledge/plants.md#L3 again."
    )
    assert grounding(workspace, text) == ["knowledge/plants.md#L3"]
    assert grounding(workspace, "All is well, trust me.") == []


def test_the_instruction_files_ground_nothing(workspace):
    """HEARTBEAT.md (pinned into every heartbeat prompt) and the operating instructions say what
    to check; a reply citing them has shown nothing. A note of the same name in a folder does."""
    write(workspace / "HEARTBEAT.md", "# Heartbeat\n\n- [ ] Water the plants\n")
    write(workspace / "notes" / "HEARTBEAT.md", "# Mine\n\nThe heartbeat monitor beeped.\n")
    assert (workspace / "AGENTS.md").is_file()  # seeded by init
    text = (
        "Water the plants (HEARTBEAT.md#L3, ./HEARTBEAT.md#L1, AGENTS.md#L1, SOUL.md#L1). "
        "See notes/HEARTBEAT.md#L3."
    )
    assert grounding(workspace, text) == ["notes/HEARTBEAT.md#L3"]


def test_the_seeded_templates_empty_fields_ground_nothing(workspace):
    """Seen in a real run: "[USER.md#L3-L11] Note USER.md: - **Name:** - **Pronouns:** ..."
    was raised. Lines the user has filled in do ground an alert."""
    seeded = (workspace / "USER.md").read_text()
    assert "- **Name:**" in seeded  # seeded by init, not filled in yet
    assert grounding(workspace, "Note USER.md#L3-L7 and USER.md#L3") == []
    write(workspace / "USER.md", seeded.replace("- **Name:**", "- **Name:** Ann, moving 4 Dec"))
    assert grounding(workspace, "Ann moves soon (USER.md#L3-L7)") == ["USER.md#L3-L7"]


def test_dedup_within_24h_and_again_after(tmp_path):
    store = HeartbeatStore(tmp_path / "hb.db")
    with store.transaction() as txn:
        assert record_alert(txn, "Backup failed on the NAS", NOW).kind == "raised"
    with store.transaction() as txn:
        again = record_alert(txn, "backup  failed on the NAS", NOW + timedelta(hours=23))
    assert again.kind == "duplicate"
    with store.transaction() as txn:
        assert record_alert(txn, "Printer out of toner", NOW).kind == "raised"
    with store.transaction() as txn:
        later = record_alert(txn, "Backup failed on the NAS", NOW + timedelta(hours=24, minutes=1))
    assert later.kind == "raised"
