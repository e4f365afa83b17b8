"""Offline: building a Redactor and redacting open no network connection."""

from __future__ import annotations

import socket

from glassline.redaction import Redactor


def test_no_network_is_used(monkeypatch):
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: attempts.append(a) or [])
    r = Redactor()
    out = r("mail jane@example.co.uk or bob@mail.example.com.au, call +44 20 7946 0958")
    assert out == "mail <EMAIL_ADDRESS> or <EMAIL_ADDRESS>, call <PHONE_NUMBER>"
    assert attempts == []
