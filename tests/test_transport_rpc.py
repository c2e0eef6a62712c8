"""CGMiner-style RPC: payload repairs (pure) and the client against real local sockets."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from asic_bridge.errors import (
    APIError,
    CommandError,
    InvalidResponseError,
    MinerConnectionError,
    MinerTimeoutError,
    ResponseTooLargeError,
)
from asic_bridge.transport import rpc
from asic_bridge.transport.rpc import RPCClient, check_status, json_object, parse_rpc_payload

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serve(handler: Handler, host: str = "127.0.0.1") -> AsyncIterator[int]:
    """A throwaway TCP server on ``host``; yields its port."""

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(guarded, host, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def read_request(reader: asyncio.StreamReader) -> dict[str, Any]:
    """CGMiner reads one request chunk: a client must not wait for EOF to be answered."""
    data = await reader.read(65536)
    parsed: dict[str, Any] = json.loads(data)
    return parsed


def reply_with(payload: bytes, seen: list[dict[str, Any]] | None = None) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        if seen is not None:
            seen.append(request)
        writer.write(payload)
        await writer.drain()

    return handler


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


SUMMARY = {
    "STATUS": [{"STATUS": "S", "When": 1, "Code": 11, "Msg": "Summary", "Description": "x"}],
    "SUMMARY": [{"Elapsed": 100, "MHS 5s": 1.5e8}],
    "id": 1,
}


# --- parse_rpc_payload ----------------------------------------------------------------------


def test_parse_plain() -> None:
    assert parse_rpc_payload(json.dumps(SUMMARY).encode()) == SUMMARY


def test_parse_trailing_nuls_and_whitespace() -> None:
    assert parse_rpc_payload(json.dumps(SUMMARY).encode() + b"\x00") == SUMMARY
    assert parse_rpc_payload(json.dumps(SUMMARY).encode() + b"\n\x00\x00") == SUMMARY


def test_parse_trailing_comma_before_close() -> None:
    assert parse_rpc_payload(b'{"a":1,"b":[1,2,],}') == {"a": 1, "b": [1, 2]}


def test_parse_newlines_inside_strings() -> None:
    assert parse_rpc_payload(b'{"Msg":"line1\nline2",\n"x":1}') == {"Msg": "line1\nline2", "x": 1}


def test_parse_glued_objects() -> None:
    raw = b'{"STATS":[{"a":1}{"b":2}  {"c":3}],"id":1}'
    assert parse_rpc_payload(raw) == {"STATS": [{"a": 1}, {"b": 2}, {"c": 3}], "id": 1}


def test_parse_array_leading_comma() -> None:
    assert parse_rpc_payload(b'{"STATS":[,{"a":1}]}') == {"STATS": [{"a": 1}]}


def test_parse_glued_strings_temp0() -> None:
    raw = b'{"SUMMARY":[{"Power Mode":"Normal""temp0":55.5}]}'
    assert parse_rpc_payload(raw) == {"SUMMARY": [{"Power Mode": "Normal", "temp0": 55.5}]}


def test_parse_bare_nonfinite() -> None:
    raw = b'{"a":inf,"b":-inf,"c":nan,"d":[inf, nan],"e":NaN,"f":Infinity,"g":-Infinity}'
    assert parse_rpc_payload(raw) == {
        "a": 0,
        "b": 0,
        "c": None,
        "d": [0, None],
        "e": None,
        "f": 0,
        "g": 0,
    }


def test_parse_quoted_nonfinite_on_fast_path() -> None:
    raw = b'{"MHS av":"inf","Temp":"nan","T2":"-inf","Name":"Antminer inf","info":"x"}'
    assert parse_rpc_payload(raw) == {
        "MHS av": 0,
        "Temp": None,
        "T2": 0,
        "Name": "Antminer inf",
        "info": "x",
    }


def test_parse_quoted_nonfinite_any_spelling() -> None:
    """Mixed case, ``Infinity`` and spaces inside the quotes (missed by the old pre-check)."""
    raw = b'{"a":"Nan","b":"Infinity","c":" inf ","d":"-nan ","e":"INFO","f":"nanos"}'
    assert parse_rpc_payload(raw) == {
        "a": None,
        "b": 0,
        "c": 0,
        "d": None,
        "e": "INFO",
        "f": "nanos",
    }


def test_quoted_nonfinite_precheck_never_misses_what_the_regex_fixes() -> None:
    """The cheap pre-check must be true wherever ``_QUOTED_NONFINITE`` matches."""
    rng = random.Random(18)
    parts = ['"', " ", "\t", "\xa0", "\x1c", "-", "inf", "INF", "Infinity", "nan", "NaN", ":",
             ",", "[", "]", "}", "o", "ity"]  # fmt: skip
    matched = 0
    for _ in range(20000):
        inside = "".join(rng.choice(parts) for _ in range(rng.randint(1, 5)))
        text = rng.choice(":[,") + '"' + inside + '"' + rng.choice(",}]")
        if rpc._QUOTED_NONFINITE.search(text):
            matched += 1
            assert rpc._has_quoted_nonfinite(text.encode()), text
    assert matched > 100
    assert not rpc._has_quoted_nonfinite(b'{"INFO":{"nanos":1,"info":"inf x"}}')


def test_parse_leading_comma() -> None:
    assert parse_rpc_payload(b',"id":1}') == {"id": 1}


def test_parse_truncated_buffer_keeps_complete_elements() -> None:
    raw = b'{"STATUS":[{"STATUS":"S"}],"Msg":{"error_code":[{"1":"a"},{"2":"b"},{"3":"c'
    assert parse_rpc_payload(raw) == {
        "STATUS": [{"STATUS": "S"}],
        "Msg": {"error_code": [{"1": "a"}, {"2": "b"}]},
    }


def test_parse_truncated_after_close() -> None:
    raw = b'{"a":{"b":[1,2]}'
    assert parse_rpc_payload(raw) == {"a": {"b": [1, 2]}}


def test_parse_whatsminer_error_code_pairs_in_list() -> None:
    raw = (
        b'{"STATUS":"S","Msg":{"error_code":["329":"2023-01-01 00:00:01","111":"2023-01-02"]},'
        b'"other":[1,2]}'
    )
    assert parse_rpc_payload(raw) == {
        "STATUS": "S",
        "Msg": {"error_code": {"329": "2023-01-01 00:00:01", "111": "2023-01-02"}},
        "other": [1, 2],
    }


def test_parse_error_code_list_of_objects_is_left_alone() -> None:
    raw = b'{"Msg":{"error_code":[{"329":"2023"}]}}'
    assert parse_rpc_payload(raw) == {"Msg": {"error_code": [{"329": "2023"}]}}


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00\x00", b"hello world", b"<html>401</html>", b"[1,2,3]", b"42", b'{"a"'],
)
def test_parse_garbage(raw: bytes) -> None:
    with pytest.raises(InvalidResponseError):
        parse_rpc_payload(raw)


# --- check_status ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "resp",
    [
        SUMMARY,
        {"STATUS": [{"STATUS": "I", "Msg": "info"}]},
        {"STATUS": [{"STATUS": "W", "Msg": "warning"}]},
        {"STATUS": "S", "Msg": "ok"},
        {"STATUS": "RESTART"},
        {"no": "status"},
    ],
)
def test_check_status_success(resp: dict[str, Any]) -> None:
    check_status(resp, "10.0.0.1", "summary")


def test_check_status_cgminer_error() -> None:
    with pytest.raises(CommandError) as info:
        check_status({"STATUS": [{"STATUS": "E", "Msg": "Invalid command"}]}, "10.0.0.1", "x")
    assert "Invalid command" in str(info.value)
    assert info.value.ip == "10.0.0.1"
    assert info.value.command == "x"


def test_check_status_fatal_and_whatsminer_style() -> None:
    with pytest.raises(CommandError):
        check_status({"STATUS": [{"STATUS": "F", "Msg": "fatal"}]})
    with pytest.raises(CommandError, match=r"invalid cmd.*code 14"):
        check_status({"STATUS": "E", "When": 1, "Code": 14, "Msg": "invalid cmd"}, "ip", "x")


# --- RPCClient against real sockets ---------------------------------------------------------


async def test_send_normal_reply_and_request_format() -> None:
    seen: list[dict[str, Any]] = []
    async with serve(reply_with(json.dumps(SUMMARY).encode(), seen)) as port:
        client = RPCClient("127.0.0.1", port)
        assert await client.send("summary") == SUMMARY
        await client.send("pools", "0", new_api=True)
    assert seen == [
        {"command": "summary"},
        {"command": "pools", "parameter": "0", "new_api": True},
    ]
    assert client.connections == 2


async def test_send_reply_with_trailing_nul_and_repair() -> None:
    payload = b'{"STATUS":[{"STATUS":"S"}],"SUMMARY":[{"a":1,}]}\x00'
    async with serve(reply_with(payload)) as port:
        resp = await RPCClient("127.0.0.1", port).send("summary")
    assert resp["SUMMARY"] == [{"a": 1}]


async def test_send_on_another_loopback_address() -> None:
    async with serve(reply_with(json.dumps(SUMMARY).encode()), host="127.0.0.2") as port:
        assert await RPCClient("127.0.0.2", port).send("summary") == SUMMARY


async def test_send_command_error_names_miner_and_command() -> None:
    payload = b'{"STATUS":[{"STATUS":"E","Msg":"Invalid command"}],"id":1}'
    async with serve(reply_with(payload)) as port:
        with pytest.raises(CommandError) as info:
            await RPCClient("127.0.0.1", port).send("bogus")
    assert info.value.ip == "127.0.0.1"
    assert info.value.command == "bogus"
    assert "Invalid command" in str(info.value)


async def test_send_garbage_is_invalid_response() -> None:
    async with serve(reply_with(b"\xff\xfe not json at all")) as port:
        with pytest.raises(InvalidResponseError) as info:
            await RPCClient("127.0.0.1", port).send("summary")
    assert info.value.command == "summary"


async def test_send_empty_answer_and_backend_down() -> None:
    async with serve(reply_with(b"")) as port:
        with pytest.raises(MinerConnectionError, match="without an answer"):
            await RPCClient("127.0.0.1", port).send("summary")
    async with serve(reply_with(b"Socket connect failed: Connection refused\n")) as port:
        with pytest.raises(MinerConnectionError, match="backend"):
            await RPCClient("127.0.0.1", port).send("summary")


def batch_handler(
    refuse_batch: bool = False,
    drop: frozenset[str] = frozenset(),
    bad: frozenset[str] = frozenset(),
) -> Handler:
    """A CGMiner that answers ``a+b`` batches keyed by command, like the real one."""

    def single(cmd: str) -> dict[str, Any]:
        if cmd in bad:
            return {"STATUS": [{"STATUS": "E", "Msg": f"Invalid command {cmd}"}], "id": 1}
        return {"STATUS": [{"STATUS": "S", "Msg": cmd}], cmd.upper(): [{"cmd": cmd}], "id": 1}

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        command = (await read_request(reader))["command"]
        if "+" in command:
            if refuse_batch:
                body: dict[str, Any] = {"STATUS": [{"STATUS": "E", "Msg": "Invalid command"}]}
            else:
                body = {c: [single(c)] for c in command.split("+") if c not in drop}
                body["id"] = 1
        else:
            body = single(command)
        writer.write(json.dumps(body).encode() + b"\x00")

    return handler


async def test_multicommand_one_connection() -> None:
    async with serve(batch_handler()) as port:
        client = RPCClient("127.0.0.1", port)
        result = await client.multicommand("summary", "stats", "pools", "version")
    assert client.connections == 1
    assert list(result) == ["summary", "stats", "pools", "version"]
    for cmd, resp in result.items():
        assert isinstance(resp, dict)
        assert resp[cmd.upper()] == [{"cmd": cmd}]


async def test_multicommand_refused_batch_falls_back_and_isolates_failures() -> None:
    async with serve(batch_handler(refuse_batch=True, bad=frozenset({"bogus"}))) as port:
        client = RPCClient("127.0.0.1", port)
        result = await client.multicommand("summary", "bogus", "pools")
    assert client.connections == 1 + 3
    assert isinstance(result["summary"], dict)
    assert isinstance(result["pools"], dict)
    assert isinstance(result["bogus"], CommandError)
    assert result["bogus"].command == "bogus"


async def test_multicommand_missing_command_is_fetched_alone() -> None:
    async with serve(batch_handler(drop=frozenset({"version"}))) as port:
        client = RPCClient("127.0.0.1", port)
        result = await client.multicommand("summary", "stats", "version")
    assert client.connections == 2
    assert all(isinstance(v, dict) for v in result.values())


async def test_multicommand_error_inside_batch_stays_per_command() -> None:
    async with serve(batch_handler(bad=frozenset({"stats"}))) as port:
        client = RPCClient("127.0.0.1", port)
        result = await client.multicommand("summary", "stats")
    assert client.connections == 1
    assert isinstance(result["summary"], dict)
    assert isinstance(result["stats"], CommandError)


async def test_multicommand_separate_commands_are_never_joined() -> None:
    seen: list[str] = []
    inner = batch_handler()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peek = await reader.read(65536)
        seen.append(json.loads(peek)["command"])
        fake = asyncio.StreamReader()
        fake.feed_data(peek)
        fake.feed_eof()
        await inner(fake, writer)

    async with serve(handler) as port:
        client = RPCClient("127.0.0.1", port)
        result = await client.multicommand(
            "summary", "devs", "get_version", "status", separate={"get_version", "status"}
        )
    assert sorted(seen) == sorted(["summary+devs", "get_version", "status"])
    assert all(isinstance(v, dict) for v in result.values())


async def test_multicommand_unreachable_miner_returns_errors() -> None:
    client = RPCClient("127.0.0.1", free_port(), timeout=1)
    result = await client.multicommand("summary", "pools")
    assert set(result) == {"summary", "pools"}
    for cmd, err in result.items():
        assert isinstance(err, MinerConnectionError)
        assert err.command == cmd


async def test_hanging_server_times_out_within_deadline() -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(30)

    async with serve(hang) as port:
        start = time.monotonic()
        async with asyncio.timeout(20):  # bounds the test; not a speed assertion
            with pytest.raises(MinerTimeoutError) as info:
                await RPCClient("127.0.0.1", port, timeout=0.3).send("summary")
        waited = time.monotonic() - start
    assert waited >= 0.25  # it did wait for the deadline (a lower bound holds on a busy machine)
    assert info.value.ip == "127.0.0.1"
    assert isinstance(info.value, TimeoutError)


async def test_an_answer_may_take_longer_than_the_connect_limit() -> None:
    """Connected, the request runs on to its total deadline (one timer, set again when the
    connect limit passes), and past that it is an answer timeout naming the total."""

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(0.25)
        writer.write(b'{"STATUS":[{"STATUS":"S"}],"SUMMARY":[{"Elapsed":5}]}')
        await writer.drain()
        writer.close()

    async with serve(slow) as port:
        client = RPCClient("127.0.0.1", port, timeout=5, connect_timeout=0.05)
        resp = await client.send("summary")
        assert resp["SUMMARY"][0]["Elapsed"] == 5
        start = time.monotonic()
        with pytest.raises(MinerTimeoutError, match=r"no answer within 0.15s"):
            await RPCClient("127.0.0.1", port, timeout=0.15, connect_timeout=0.05).send("x")
        assert time.monotonic() - start >= 0.12


async def test_multicommand_hang_bounded_by_one_deadline() -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    async with serve(hang) as port:
        async with asyncio.timeout(20):  # bounds the test; not a speed assertion
            result = await RPCClient("127.0.0.1", port, timeout=0.3).multicommand(
                "summary", "pools"
            )
    assert all(isinstance(v, MinerTimeoutError) for v in result.values())


async def test_partial_answer_then_hang_times_out() -> None:
    async def dribble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b'{"STATUS":[{"STATUS":"S"}]')  # never closes
        await writer.drain()
        await asyncio.sleep(30)

    async with serve(dribble) as port:
        with pytest.raises(MinerTimeoutError):
            await RPCClient("127.0.0.1", port, timeout=0.3).send("summary")


async def test_reset_by_server() -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.transport.abort()  # RST instead of FIN

    async with serve(reset) as port:
        with pytest.raises(MinerConnectionError) as info:
            await RPCClient("127.0.0.1", port).send("summary")
    assert info.value.ip == "127.0.0.1"
    assert info.value.command == "summary"


async def test_connection_refused() -> None:
    port = free_port()
    with pytest.raises(MinerConnectionError, match="refused") as info:
        await RPCClient("127.0.0.1", port).send("summary")
    assert info.value.ip == "127.0.0.1"


async def test_huge_answer_is_cut_with_bounded_memory() -> None:
    chunk = b"x" * 65536
    total = 50 * 1024 * 1024
    sent = 0

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await read_request(reader)
        writer.write(b'{"data":"')
        while sent < total:
            writer.write(chunk)
            sent += len(chunk)
            await writer.drain()  # back-pressure: a closed client stops the flood

    async with serve(flood) as port:
        tracemalloc.start()
        try:
            with pytest.raises(ResponseTooLargeError) as info:
                await RPCClient("127.0.0.1", port, max_bytes=1024 * 1024).send("stats")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert info.value.command == "stats"
    assert peak < 8 * 1024 * 1024
    assert sent < total  # the server was stopped early, not drained to the end


async def test_errors_are_apierrors_with_context() -> None:
    port = free_port()
    try:
        await RPCClient("127.0.0.1", port).send("version")
    except APIError as exc:
        assert "127.0.0.1" in str(exc)
        assert "version" in str(exc)
    else:  # pragma: no cover
        pytest.fail("expected an APIError")


def test_json_object_passes_an_object_and_names_what_else_came() -> None:
    assert json_object({"a": 1}) == {"a": 1}
    for value, kind in (([], "list"), ("x", "str"), (None, "NoneType"), (3, "int")):
        with pytest.raises(InvalidResponseError, match=f"expected a JSON object, got {kind}"):
            json_object(value)
    with pytest.raises(InvalidResponseError) as info:
        json_object([1], what="v3 frame", ip="10.0.0.9", command="get.x")
    assert info.value.reason == "v3 frame: expected a JSON object, got list"
    assert info.value.ip == "10.0.0.9" and info.value.command == "get.x"
    with pytest.raises(InvalidResponseError, match="got list"):
        parse_rpc_payload(b"[1, 2]")
