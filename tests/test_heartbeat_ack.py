"""HEARTBEAT_OK stripping and the 300-character rule, as OpenClaw's stripHeartbeatToken."""

from __future__ import annotations

import pytest

from shared.heartbeat.ack import classify_reply, strip_heartbeat_token


@pytest.mark.parametrize(
    "reply",
    [
        "HEARTBEAT_OK",
        "  HEARTBEAT_OK \n",
        "HEARTBEAT_OK.",
        "HEARTBEAT_OK!!!",
        "HEARTBEAT_OK HEARTBEAT_OK",
        "HEARTBEAT_OK All quiet, inbox empty.",
        "All quiet, inbox empty. HEARTBEAT_OK",
        "**HEARTBEAT_OK**",
        "<b>HEARTBEAT_OK</b>",
        "`HEARTBEAT_OK`",
        "~~HEARTBEAT_OK~~",
        "_HEARTBEAT_OK_",
        "&nbsp;HEARTBEAT_OK",
        "<p>Nothing new.</p> <b>HEARTBEAT_OK</b>",
    ],
)
def test_acks(reply):
    verdict = classify_reply(reply)
    assert verdict.kind == "ok-token", reply
    assert verdict.text == ""


@pytest.mark.parametrize("reply", [None, "", "   \n "])
def test_empty_reply(reply):
    assert classify_reply(reply).kind == "ok-empty"


@pytest.mark.parametrize("reply", ["NO_REPLY", "  no_reply\n", "No_Reply"])
def test_no_reply_is_silent(reply):
    assert classify_reply(reply).kind == "silent"


def test_no_reply_with_content_is_an_alert():
    verdict = classify_reply("NO_REPLY but the backup failed")
    assert verdict.kind == "alert"
    assert verdict.text == "NO_REPLY but the backup failed"


def test_reply_without_token_is_an_alert_verbatim():
    reply = "  Disk is 95% full:\n- /var/log 40 GB\n"
    verdict = classify_reply(reply)
    assert verdict.kind == "alert"
    assert verdict.text == "Disk is 95% full:\n- /var/log 40 GB"


def test_token_in_the_middle_is_not_stripped():
    verdict = classify_reply("The HEARTBEAT_OK check failed on the NAS")
    assert verdict.kind == "alert"
    assert verdict.text == "The HEARTBEAT_OK check failed on the NAS"


def test_more_than_four_trailing_characters_is_not_the_token_at_the_end():
    reply = "Backup done HEARTBEAT_OK-----"
    assert strip_heartbeat_token(reply).did_strip is False
    assert classify_reply(reply).kind == "alert"


def test_300_characters_left_is_still_an_ack():
    assert classify_reply("HEARTBEAT_OK " + "a" * 300).kind == "ok-token"
    assert classify_reply("b" * 300 + " HEARTBEAT_OK").kind == "ok-token"


def test_301_characters_left_is_an_alert_without_the_token():
    verdict = classify_reply("HEARTBEAT_OK " + "a" * 301)
    assert verdict.kind == "alert"
    assert verdict.text == "a" * 301
    end = classify_reply("b" * 301 + " HEARTBEAT_OK")
    assert (end.kind, end.text) == ("alert", "b" * 301)
    # as OpenClaw, punctuation after a trailing token stays with the text before it
    dotted = classify_reply("b" * 301 + " HEARTBEAT_OK.")
    assert (dotted.kind, dotted.text) == ("alert", "b" * 301 + ".")


def test_stripped_alert_has_whitespace_collapsed():
    body = "line one\n\nline two " + "x" * 300
    verdict = classify_reply("HEARTBEAT_OK\n\n" + body)
    assert verdict.kind == "alert"
    assert verdict.text == "line one line two " + "x" * 300


def test_ack_max_chars_is_configurable():
    assert classify_reply("HEARTBEAT_OK fine", ack_max_chars=0).kind == "alert"
    assert classify_reply("HEARTBEAT_OK", ack_max_chars=0).kind == "ok-token"
    assert classify_reply("HEARTBEAT_OK " + "a" * 10, ack_max_chars=10).kind == "ok-token"
    assert classify_reply("HEARTBEAT_OK " + "a" * 11, ack_max_chars=10).kind == "alert"


def test_trailing_characters_are_non_word_as_in_javascript():
    # JavaScript's \w is ASCII: an accented letter after the token counts as punctuation there
    assert strip_heartbeat_token("Fine HEARTBEAT_OKé").did_strip
    assert not strip_heartbeat_token("Fine HEARTBEAT_OKa").did_strip
