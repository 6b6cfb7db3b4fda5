"""The guard in front of the app: Host names, bearer keys, and bodies that are slow or too big."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from redheart_core.config import load_config
from redheart_core.service import create_app
from redheart_core.service.guard import GuardSettings, caller_of, host_name

from .conftest import metric, small_config

KEYS = {"alice": "alice-key-0123456789abcdef", "bob": "bob-key-0123456789abcdef"}


@pytest.mark.parametrize("header, name", [("127.0.0.1:8000", "127.0.0.1"), ("[::1]:8000", "::1"),
                                          ("LocalHost", "localhost"), ("example.org", "example.org"),
                                          ("[::1]", "::1")])
def test_host_name_drops_the_port(header, name):
    assert host_name(header) == name


def settings(*overrides: str) -> GuardSettings:
    return GuardSettings.from_config(load_config(overrides=list(overrides), validate=False).server)


def test_a_bearer_key_names_its_caller_and_nothing_else_does():
    guard = settings(*(f"server.api_keys.{n}={k}" for n, k in KEYS.items()))
    assert caller_of(guard, f"Bearer {KEYS['alice']}") == "alice"
    assert caller_of(guard, f"bearer   {KEYS['bob']}") == "bob"
    for header in (None, "", "Bearer", f"Basic {KEYS['bob']}", f"Bearer {KEYS['bob']}x",
                   f"Bearer {KEYS['bob'][:-1]}"):
        assert caller_of(guard, header) is None, header


def test_default_hosts_are_the_loopback_names_and_the_bound_host():
    assert settings().hosts == {"localhost", "127.0.0.1", "::1"}
    assert settings("server.host=10.1.2.3").hosts == {"localhost", "127.0.0.1", "::1", "10.1.2.3"}
    assert settings("server.host=0.0.0.0").hosts == {"localhost", "127.0.0.1", "::1"}
    assert settings("server.allowed_hosts=[api.example.org]").hosts == {"api.example.org"}
    assert settings("server.allowed_hosts=['*']").hosts is None


def raw_request(port: int, head: bytes, body: bytes, wait_s: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        sock.sendall(head + body)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and b"}}" in chunks[-1]:
                    break
        except TimeoutError:
            pass
    return b"".join(chunks)


def test_a_body_that_does_not_arrive_in_time_gets_408(live_server):
    server = live_server(create_app(small_config("server.body_timeout_s=0.5")))
    started = time.monotonic()
    answer = raw_request(server.port, b"POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n", b'{"text": ')
    assert answer.startswith(b"HTTP/1.1 408 ") and b'"RequestTimeout"' in answer
    assert time.monotonic() - started < 5
    assert metric(httpx.get(f"{server.url}/metrics").text, "redheart_requests_total", 'status="timeout"') == 1


def test_a_chunked_body_is_refused_once_it_passes_the_limit(live_server):
    server = live_server(create_app(small_config("server.max_body_bytes=1000")))

    def chunks():
        for _ in range(50):
            yield b"x" * 100

    response = httpx.post(f"{server.url}/v1/analyze", content=chunks(),
                          headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "over the limit of 1000 bytes (server.max_body_bytes)" in response.json()["error"]["message"]
    small = httpx.post(f"{server.url}/v1/analyze", json={"text": "a short one"}, timeout=30)
    assert small.status_code == 200, "a body under the limit goes through"


def test_match_text_without_api_keys_is_refused():
    from redheart_core.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        create_app(small_config("experience.match_text=true"))
    assert info.value.key == "experience.match_text"
    create_app(small_config("experience.match_text=true", f"server.api_keys.a={KEYS['alice']}"))
