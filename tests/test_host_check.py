"""Loopback servers answer only requests addressed to this machine (DNS rebinding defence)."""

from __future__ import annotations

import pytest

from services.host_check import host_name, is_loopback_host


@pytest.mark.parametrize(
    ("header", "name"),
    [("127.0.0.1:31327", "127.0.0.1"), ("localhost", "localhost"), ("[::1]:8080", "::1"),
     ("[::1]", "::1"), ("evil.example:31327", "evil.example"), ("::1", "::1")],
)  # fmt: skip
def test_the_port_is_not_part_of_the_name(header, name):
    assert host_name(header) == name


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST", "localhost.", "app.localhost", "127.0.0.1", "127.8.9.1",
             "::1", "[::1]"],
)  # fmt: skip
def test_loopback_names(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host", ["evil.example", "localhost.evil.example", "127.0.0.1.nip.io", "0.0.0.0",
             "192.168.1.5", "10.0.0.1", "::", "", "localhostx"],
)  # fmt: skip
def test_other_names(host):
    assert not is_loopback_host(host)
