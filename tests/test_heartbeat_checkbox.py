"""The checkbox tool: flips one mark in HEARTBEAT.md and never changes any other byte."""

from __future__ import annotations

import os

import pytest

from shared.heartbeat import checkbox
from shared.heartbeat.checkbox import (
    AmbiguousMatchError,
    CheckboxError,
    NoMatchError,
    list_items,
    set_checkbox,
)

MESSY = (
    "# HEARTBEAT.md\r\n"
    "\r\n"
    "Notes — café ☕ with trailing spaces   \r\n"
    "- [ ] Check the inbox\r\n"
    "  * [x] Nested done item\r\n"
    "1. [ ] Numbered: call the bank \t\r\n"
    "```\r\n"
    "- [ ] Not an item: inside a fence\r\n"
    "```\r\n"
    "+ [X] Water the plants\r\n"
    "- [ ] Renew the passport"  # no final newline
).encode()


def heartbeat(workspace, data: bytes = MESSY):
    path = workspace / "HEARTBEAT.md"
    path.write_bytes(data)
    return path


def one_byte_changed(before: bytes, after: bytes) -> tuple[int, bytes, bytes]:
    assert len(before) == len(after)
    diffs = [i for i in range(len(before)) if before[i] != after[i]]
    assert len(diffs) == 1, diffs
    i = diffs[0]
    return i, before[i : i + 1], after[i : i + 1]


def test_lists_items_outside_fences():
    items = list_items(MESSY.decode())
    assert [(i.line, i.text, i.checked) for i in items] == [
        (4, "Check the inbox", False),
        (5, "Nested done item", True),
        (6, "Numbered: call the bank", False),
        (10, "Water the plants", True),
        (11, "Renew the passport", False),
    ]


@pytest.mark.parametrize(
    "item", ["Check the inbox", "Numbered: call the bank", "Renew the passport"]
)
def test_tick_changes_exactly_the_mark(workspace, item):
    path = heartbeat(workspace)
    result = set_checkbox(workspace, item)
    assert result.changed and result.checked
    index, old, new = one_byte_changed(MESSY, path.read_bytes())
    assert (old, new) == (b" ", b"x")
    assert path.read_bytes()[index - 1 : index + 2] == b"[x]"


def test_untick_lower_and_upper_x(workspace):
    path = heartbeat(workspace)
    set_checkbox(workspace, "Water the plants", checked=False)
    _, old, new = one_byte_changed(MESSY, path.read_bytes())
    assert (old, new) == (b"X", b" ")
    before = path.read_bytes()
    set_checkbox(workspace, "nested done item", checked=False)
    _, old, new = one_byte_changed(before, path.read_bytes())
    assert (old, new) == (b"x", b" ")


def test_already_in_state_does_not_write(workspace):
    path = heartbeat(workspace)
    inode, mtime = os.stat(path).st_ino, os.stat(path).st_mtime_ns
    result = set_checkbox(workspace, "Water the plants", checked=True)
    assert not result.changed
    assert path.read_bytes() == MESSY
    assert (os.stat(path).st_ino, os.stat(path).st_mtime_ns) == (inode, mtime)


def test_matching_rules(workspace):
    heartbeat(workspace, b"- [ ] Check email\n- [ ] Check email twice\n- [ ] Pay rent\n")
    assert set_checkbox(workspace, "Check email").line == 1  # exact beats substring
    assert set_checkbox(workspace, "CHECK EMAIL TWICE").line == 2  # case-insensitive
    assert set_checkbox(workspace, "rent").line == 3  # a unique part
    with pytest.raises(AmbiguousMatchError, match="2 items"):
        set_checkbox(workspace, "email", checked=False)
    with pytest.raises(NoMatchError, match="no checkbox item matches 'Feed the cat'"):
        set_checkbox(workspace, "Feed the cat")
    with pytest.raises(NoMatchError):
        set_checkbox(workspace, "   ")


def test_identical_items_are_ambiguous_and_untouched(workspace):
    data = b"- [ ] Stretch\n- [ ] Stretch\n"
    path = heartbeat(workspace, data)
    with pytest.raises(AmbiguousMatchError):
        set_checkbox(workspace, "Stretch")
    assert path.read_bytes() == data


def test_fenced_item_is_not_found(workspace):
    heartbeat(workspace)
    with pytest.raises(NoMatchError):
        set_checkbox(workspace, "Not an item: inside a fence")


def test_missing_and_invalid_files(workspace):
    (workspace / "HEARTBEAT.md").unlink()
    with pytest.raises(CheckboxError, match="does not exist"):
        set_checkbox(workspace, "x")
    bad = b"- [ ] caf\xe9\n"
    path = heartbeat(workspace, bad)
    with pytest.raises(CheckboxError, match="not valid UTF-8"):
        set_checkbox(workspace, "caf")
    assert path.read_bytes() == bad


def test_keeps_mode_and_leaves_no_temp_files(workspace):
    path = heartbeat(workspace)
    path.chmod(0o640)
    set_checkbox(workspace, "Check the inbox")
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in workspace.iterdir() if p.name.endswith(".tmp")] == []


def test_symlinked_file_stays_a_link(workspace):
    real = workspace / "knowledge" / "checklist.md"
    real.write_bytes(MESSY)
    (workspace / "HEARTBEAT.md").unlink()
    (workspace / "HEARTBEAT.md").symlink_to(real)
    set_checkbox(workspace, "Check the inbox")
    assert (workspace / "HEARTBEAT.md").is_symlink()
    one_byte_changed(MESSY, real.read_bytes())


def test_a_save_during_the_update_is_kept(workspace, monkeypatch):
    path = heartbeat(workspace, b"- [ ] Check the inbox\n")
    users_version = b"- [ ] Check the inbox\n- [ ] Added by the user meanwhile\n"
    real_apply = checkbox._apply
    calls = []

    def apply_then_user_saves(original, item, checked):
        out = real_apply(original, item, checked)
        if not calls:
            path.write_bytes(users_version)  # the user saves after our read
        calls.append(1)
        return out

    monkeypatch.setattr(checkbox, "_apply", apply_then_user_saves)
    set_checkbox(workspace, "Check the inbox")
    assert len(calls) == 2, "the first attempt must be abandoned and retried"
    assert path.read_bytes() == b"- [x] Check the inbox\n- [ ] Added by the user meanwhile\n"
    assert [p.name for p in workspace.iterdir() if p.name.endswith(".tmp")] == []
