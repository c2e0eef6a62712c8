"""Bridge requests: a registered path answered with its data, every failure answered with
an error (unknown and nested paths, bad JSON, a handler's refusal), the transaction echoed."""

from __future__ import annotations

from typing import Any

import pytest
from bridge_fakes import RecordingPublisher, request

from asic_bridge.bridge.commands import RequestError
from asic_bridge.bridge.features.requests import BridgeRequests
from asic_bridge.bridge.topics import Topics

T = Topics("base")


def _requests() -> tuple[BridgeRequests, RecordingPublisher]:
    pub = RecordingPublisher()
    requests = BridgeRequests(pub, T)

    async def echo(args: dict[str, Any]) -> Any:
        if args.get("refuse"):
            raise RequestError("refused on purpose")
        return {"got": args}

    requests.register("echo", echo)
    requests.register("device/echo", echo)
    return requests, pub


async def test_a_registered_path_answers_with_its_data() -> None:
    requests, pub = _requests()
    await requests.handle(request("bridge_request", b'{"a": 1, "transaction": 7}', name="echo"))
    answer = pub.last("base/bridge/response/echo").json()
    assert answer == {
        "status": "ok",
        "data": {"got": {"a": 1, "transaction": 7}},
        "error": None,
        "transaction": 7,
    }
    await requests.handle(request("bridge_request", b"", name="device/echo"))
    assert pub.last("base/bridge/response/device/echo").json()["data"] == {"got": {}}


@pytest.mark.parametrize(
    ("path", "payload", "error"),
    [
        ("nothing", b"{}", "unknown request 'nothing'"),
        ("device/unknown", b"{}", "unknown request 'device/unknown'"),
        ("echo", b"{not json", "invalid JSON"),
        ("echo", b"[1, 2]", "payload must be a JSON object"),
        ("echo", b"\xff\xfe", "not UTF-8"),
        ("echo", b'{"refuse": true, "transaction": "t"}', "refused on purpose"),
    ],
)
async def test_every_failure_is_answered(path: str, payload: bytes, error: str) -> None:
    requests, pub = _requests()
    await requests.handle(request("bridge_request", payload, name=path))
    answer = pub.last(f"base/bridge/response/{path}").json()
    assert answer["status"] == "error" and error in answer["error"], answer
    assert answer["data"] is None
    if b'"transaction"' in payload:
        assert answer["transaction"] == "t"


async def test_unknown_path_names_the_known_ones() -> None:
    requests, pub = _requests()
    await requests.handle(request("bridge_request", b"", name="x/y/z"))
    assert "device/echo, echo" in pub.last("base/bridge/response/x/y/z").json()["error"]
