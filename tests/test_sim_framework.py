"""The simulated-miner framework over real sockets on 127.x addresses.

Addresses 127.77.x.y / 127.78.x.y are used only by this file, so it can run beside others.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from asic_bridge import sim
from asic_bridge.sim.base import SimServer
from asic_bridge.sim.cgminer import CGMinerSim
from asic_bridge.sim.frame_server import FrameServer, encode_frame
from asic_bridge.sim.http_server import (
    DigestAuth,
    HttpReply,
    HttpServer,
    Request,
    basic_credentials,
    bearer_token,
    cookie_guard,
    json_reply,
    token_guard,
)
from asic_bridge.sim.rpc_server import RpcServer
from asic_bridge.sim.state import Hardware, MinerState, convert_rate

# ---------------------------------------------------------------------------- helpers


async def rpc(host: str, port: int, payload: bytes | dict[str, Any], wait: float = 3.0) -> bytes:
    """Send one request and read to EOF, like pyasic does."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), wait)
    finally:
        writer.close()


def load(raw: bytes) -> Any:
    assert raw.endswith(b"\x00"), raw[-20:]
    return json.loads(raw[:-1])


async def read_response(reader: asyncio.StreamReader) -> bytes:
    """One HTTP response (head + Content-Length body) from a raw stream."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return head + await reader.readexactly(length)


async def rpc_json(sim_: sim.SimMiner, payload: bytes | dict[str, Any]) -> Any:
    return load(await rpc(sim_.address, sim_.ports["rpc"], payload))


class ToyWeb(sim.SimMiner):
    """A test-only kind (not registered) with every server type: how a kind is written."""

    kind = "toy_web"
    make, model, firmware = "Toy", "T1", "ToyOS 1.0"
    default_ports = {"rpc": 4028, "http": 80, "frames": 4433}
    hardware = Hardware(boards=2, chips_per_board=10, board_hashrate=50.0, nominal_power=1000.0)

    def make_servers(self) -> dict[str, SimServer]:
        self.users = {"root": "root"}
        self.digest = DigestAuth("antMiner Configuration", self.users)
        http = HttpServer(guard=self.digest)
        http.route("GET", "/", self.index)
        http.route("GET", "/info", self.info)
        http.route("POST", "/echo", self.echo)
        http.route("GET", "/open", self.info, public=True)
        http.route("GET", "/api/*", self.info, public=True)
        return {
            "rpc": RpcServer(self.on_rpc),
            "http": http,
            "frames": FrameServer(self.on_frame),
        }

    def on_rpc(
        self, command: str, parameter: str | None, request: dict[str, Any]
    ) -> dict[str, Any]:
        return {"STATUS": [{"STATUS": "S", "Msg": command}], "P": parameter, "id": 1}

    def on_frame(self, message: dict[str, Any]) -> dict[str, Any]:
        return {"code": 0, "msg": {"echo": message.get("cmd"), "mac": self.state.mac}}

    async def index(self, request: Request) -> HttpReply:
        return 200, {"Content-Type": "text/html"}, "<html>toy</html>"

    async def info(self, request: Request) -> HttpReply:
        r = self.state.read()
        return json_reply({"path": request.path, "query": request.query, "watts": r.wattage})

    async def echo(self, request: Request) -> HttpReply:
        return json_reply({"body": request.json()})


@pytest.fixture
async def s9() -> AsyncIterator[CGMinerSim]:
    miner = CGMinerSim("127.77.0.2")
    miner.state.jitter = 0.0
    await miner.start()
    yield miner
    await miner.stop()


@pytest.fixture
async def toy() -> AsyncIterator[ToyWeb]:
    miner = ToyWeb("127.77.0.3")
    await miner.start()
    yield miner
    await miner.stop()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------------------- state


def test_state_controls_drive_readings() -> None:
    clock = FakeClock()
    st = MinerState("AntMiner", "S9", "Stock", Hardware(), ip="127.0.0.9", jitter=0, clock=clock)
    hw = st.hardware
    r = st.read()
    assert r.hashrate == pytest.approx(hw.nominal_hashrate)
    assert r.wattage == pytest.approx(hw.nominal_power)
    assert len(r.boards) == 3 and all(b.chips == 63 for b in r.boards)
    hot_fans, hot_temp = r.fans, r.temp_avg

    st.set_power_limit(hw.nominal_power / 2)
    r = st.read()
    assert r.wattage == pytest.approx(hw.nominal_power / 2)
    assert r.hashrate == pytest.approx(hw.nominal_hashrate * 0.5**0.8)
    assert r.power_limit == hw.nominal_power / 2
    assert st.set_power_limit(1) == hw.power_range[0]  # clamped to the hardware floor
    st.set_power_limit(None)
    st.set_power_limit(10 * hw.nominal_power)
    assert st.read().hashrate == pytest.approx(hw.nominal_hashrate)  # capped at nominal

    st.set_mining(False)
    r = st.read()
    assert r.hashrate == 0 and not r.hashing
    assert 0.05 * hw.nominal_power <= r.wattage <= 0.10 * hw.nominal_power
    assert max(r.fans) < min(hot_fans) and r.temp_avg < hot_temp
    st.set_mining(True)

    st.set_work_mode("low")
    assert st.read().wattage == pytest.approx(0.75 * hw.nominal_power)
    st.set_work_mode("sleep")
    assert st.read().hashrate == 0
    with pytest.raises(ValueError, match="work mode"):
        st.set_work_mode("turbo")
    st.set_work_mode("normal")

    st.dead_boards.add(1)
    r = st.read()
    assert r.boards[1].chips == 0 and r.boards[1].hashrate == 0
    assert r.hashrate == pytest.approx(hw.nominal_hashrate * 2 / 3)


def test_state_time_shares_identity_and_jitter() -> None:
    clock = FakeClock()
    a = MinerState("M", "X", "F", ip="127.0.0.10", clock=clock)
    b = MinerState("M", "X", "F", ip="127.0.0.10", clock=clock)
    c = MinerState("M", "X", "F", ip="127.0.0.11", clock=clock)
    assert a.mac == b.mac != c.mac and a.serial == b.serial != c.serial
    assert a.mac.startswith("02:") and a.mac == a.mac.lower() and len(a.mac) == 17

    nominal = a.hardware.nominal_hashrate
    for _ in range(20):  # jitter stays within ±0.5 % and changes over time
        clock.now += 5
        assert abs(a.read().hashrate / nominal - 1) <= 0.005 + 1e-9
    assert len({round(a.read().hashrate, 6) for _ in range(3)}) == 1  # stable within a slot

    clock.now += 100
    r = a.read()
    assert r.uptime == r.elapsed == 200
    assert r.pools[0].active and r.pools[0].accepted > 0 and r.pools[1].accepted == 0
    before = r.pools[0].accepted
    a.switch_pool(1)
    clock.now += 50
    r = a.read()
    assert r.pools[0].accepted == before and r.pools[1].active and r.pools[1].accepted > 0
    a.restart_backend()
    clock.now += 3
    r = a.read()
    assert r.elapsed == 3 and r.uptime == 253 and r.accepted < before
    a.reboot()
    assert a.read().uptime == 0
    assert convert_rate(1.0, "TH/s", "GH") == pytest.approx(1000.0)


# ---------------------------------------------------------------------------- RPC


async def test_rpc_request_reply_close(s9: CGMinerSim) -> None:
    reply = await rpc_json(s9, {"command": "summary"})  # no newline, client reads to EOF
    assert reply["STATUS"][0]["STATUS"] == "S" and reply["id"] == 1
    summary = reply["SUMMARY"][0]
    assert float(summary["GHS 5s"]) == pytest.approx(13500.0)
    assert summary["GHS av"] == pytest.approx(13500.0)

    version = await rpc_json(s9, b'{"command": "version"}\n')
    assert version["VERSION"][0]["Type"] == "Antminer S9"
    assert version["VERSION"][0]["API"] == "3.1"
    plain = await rpc(s9.address, 4028, b"version|\n")  # the old plain-text request
    assert b'"BMMiner versions"' in plain

    c = s9.counters["rpc"]
    assert c.connections == 3 and c.requests == 3
    assert c.by_key["summary"] == 1 and c.by_key["version"] == 2
    s9.reset_counters()
    assert s9.counters["rpc"].connections == 0


async def test_rpc_errors_follow_cgminer(s9: CGMinerSim) -> None:
    bad_json = await rpc_json(s9, b'{"command": ')
    assert bad_json["STATUS"][0]["Code"] == 23 and bad_json["STATUS"][0]["STATUS"] == "E"
    missing = await rpc_json(s9, {"parameter": "x"})
    assert missing["STATUS"][0]["Code"] == 24
    unknown = await rpc_json(s9, {"command": "frobnicate"})
    assert unknown["STATUS"][0]["Code"] == 14 and "Description" not in unknown["STATUS"][0]
    check = await rpc_json(s9, {"command": "check", "parameter": "pools"})
    assert check["CHECK"][0]["Exists"] == "Y"


async def test_rpc_batch_and_refusal(s9: CGMinerSim) -> None:
    batch = await rpc_json(s9, {"command": "summary+stats+version+pools+summary+restart"})
    assert set(batch) == {"summary", "stats", "version", "pools", "restart", "id"}
    assert batch["id"] == 1
    assert batch["summary"][0]["SUMMARY"][0]["Elapsed"] >= 0
    assert batch["restart"][0]["STATUS"][0]["Code"] == 45  # state changes are not joinable
    stats = batch["stats"][0]["STATS"][1]
    assert stats["chain_acn6"] == 63 and stats["chain_acn9"] == 0 and stats["chain_acs9"] == ""
    assert float(stats["chain_rate7"]) == pytest.approx(4500.0)
    assert stats["fan5"] > 0 and stats["fan6"] > 0 and stats["fan1"] == 0
    assert stats["total_rateideal"] == pytest.approx(13500.0)
    assert s9.counters["rpc"].connections == 1 and s9.counters["rpc"].by_key["stats"] == 1

    s9.rpc.refuse_batches = True
    refused = await rpc_json(s9, {"command": "summary+pools"})
    assert refused["STATUS"][0]["STATUS"] == "E"
    assert (await rpc_json(s9, {"command": "pools"}))["POOLS"][0]["Stratum Active"] is True


async def test_cgminer_reacts_to_controls(s9: CGMinerSim) -> None:
    s9.state.set_power_limit(s9.hardware.nominal_power / 2)
    summary = (await rpc_json(s9, {"command": "summary"}))["SUMMARY"][0]
    assert float(summary["GHS 5s"]) == pytest.approx(13500 * 0.5**0.8, rel=1e-3)

    added = await rpc_json(s9, {"command": "addpool", "parameter": "stratum+tcp://p3:3333,w,x"})
    assert added["STATUS"][0]["Code"] == 55
    await rpc_json(s9, {"command": "switchpool", "parameter": 2})
    pools = (await rpc_json(s9, {"command": "pools"}))["POOLS"]
    assert [p["Stratum Active"] for p in pools] == [False, False, True]
    assert (await rpc_json(s9, {"command": "removepool", "parameter": "2"}))["STATUS"][0][
        "Code"
    ] == 67
    bad = await rpc_json(s9, {"command": "switchpool", "parameter": "9"})
    assert bad["STATUS"][0]["Code"] == 26

    s9.restart_downtime = 0.2
    s9.state.clock = lambda: time.monotonic() + 100  # pretend 100 s passed
    assert await rpc(s9.address, 4028, {"command": "restart"}) == b'{"STATUS":"RESTART","id":1}\x00'
    await asyncio.sleep(0.05)
    with pytest.raises(ConnectionRefusedError):
        await rpc(s9.address, 4028, {"command": "summary"})
    await asyncio.sleep(0.3)
    assert (await rpc_json(s9, {"command": "summary"}))["SUMMARY"][0]["Elapsed"] < 5

    assert await rpc(s9.address, 4028, {"command": "quit"}) == b'{"STATUS":"BYE","id":1}\x00'
    await asyncio.sleep(0.05)
    with pytest.raises(ConnectionRefusedError):
        await rpc(s9.address, 4028, {"command": "version"})
    assert s9.state.read().hashrate == 0
    await s9.reboot(downtime=0.05)
    assert (await rpc_json(s9, {"command": "summary"}))["SUMMARY"][0]["GHS av"] > 0


# ---------------------------------------------------------------------------- HTTP


async def test_http_digest_keepalive_and_counts(toy: ToyWeb) -> None:
    base = f"http://{toy.address}:{toy.ports['http']}"
    async with httpx.AsyncClient(base_url=base, timeout=3) as client:
        anon = await client.get("/")
        assert anon.status_code == 401
        assert 'realm="antMiner Configuration"' in anon.headers["www-authenticate"]
        assert 'qop="auth"' in anon.headers["www-authenticate"]

        auth = httpx.DigestAuth("root", "root")
        for i in range(3):
            resp = await client.get("/info", params={"n": str(i), "x": "a b"}, auth=auth)
            assert resp.status_code == 200
            assert resp.json()["query"] == {"n": str(i), "x": "a b"}
        # the nonce stays valid: one challenge for three authenticated requests
        assert toy.digest.challenges == 2  # the anonymous GET / and the first /info
        echo = await client.post("/echo", json={"a": [1, 2]}, auth=auth)
        assert echo.json() == {"body": {"a": [1, 2]}}

        wrong = await client.get("/info", auth=httpx.DigestAuth("root", "nope"))
        assert wrong.status_code == 401
        toy.users["root"] = "changed"  # password changed at runtime: old creds now fail
        assert (await client.get("/info", auth=auth)).status_code == 401

        assert (await client.get("/open")).status_code == 200  # public route
        assert (await client.get("/api/v1/anything")).json()["path"] == "/api/v1/anything"
        assert (
            await client.get("/nothing", auth=httpx.DigestAuth("root", "changed"))
        ).status_code == 404

    c = toy.counters["http"]
    assert c.connections == 1  # everything above went over one keep-alive connection
    # 401s: anonymous /, first /info, wrong password (challenge + refusal), stale cached
    # password (refusal + new challenge), first /nothing
    assert c.unauthorized == 7
    assert c.by_key["GET /info"] == 8
    assert c.requests == sum(c.by_key.values())


async def test_http_wire_level(toy: ToyWeb) -> None:
    port = toy.ports["http"]
    reader, writer = await asyncio.open_connection(toy.address, port)
    writer.write(b"GET /open HTTP/1.1\r\nHost: x\r\n\r\nGET /open?a=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    first, second = await read_response(reader), await read_response(reader)
    assert first.startswith(b"HTTP/1.1 200 OK") and b'"query":{"a":"1"}' in second
    writer.write(b"GET /open HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    rest = await asyncio.wait_for(reader.read(), 2)  # server closes after this one
    assert b"Connection: close" in rest
    writer.close()

    reader, writer = await asyncio.open_connection(toy.address, port)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n")
    assert (await asyncio.wait_for(reader.read(), 3)).startswith(b"HTTP/1.1 413")
    writer.close()

    reader, writer = await asyncio.open_connection(toy.address, port)
    writer.write(b"NONSENSE\r\n\r\n")
    assert (await asyncio.wait_for(reader.read(), 3)).startswith(b"HTTP/1.1 400")
    writer.close()
    assert toy.counters["http"].connections == 3


def test_auth_helpers() -> None:
    def req(headers: dict[str, str]) -> Request:
        return Request("GET", "/", "/", "HTTP/1.1", headers)

    assert basic_credentials(req({"authorization": "Basic cm9vdDpyb290"})) == ("root", "root")
    assert basic_credentials(req({"authorization": "Basic !!"})) is None
    assert bearer_token(req({"authorization": "Bearer abc"})) == "abc"
    assert bearer_token(req({"token": "abc"}), "Token") == "abc"
    tokens = {"good"}
    guard = token_guard(tokens)
    assert guard(req({"authorization": "Bearer good"})) is None
    refused = guard(req({"authorization": "Bearer bad"}))
    assert refused is not None and refused[0] == 401
    cookies = cookie_guard("auth", {"ff0000ff1234"})
    assert cookies(req({"cookie": "a=b; auth=ff0000ff1234"})) is None
    assert cookies(req({})) is not None


# ---------------------------------------------------------------------------- frames


async def test_frames_stay_open(toy: ToyWeb) -> None:
    reader, writer = await asyncio.open_connection(toy.address, toy.ports["frames"])
    for cmd in ("get.device.info", "get.miner.status"):
        writer.write(encode_frame({"cmd": cmd}))
        size = int.from_bytes(await reader.readexactly(4), "little")
        body = json.loads(await reader.readexactly(size))
        assert body["msg"] == {"echo": cmd, "mac": toy.state.mac}
    writer.write(encode_frame(b"not json"))
    size = int.from_bytes(await reader.readexactly(4), "little")
    assert json.loads(await reader.readexactly(size))["code"] == -1
    writer.close()
    c = toy.counters["frames"]
    assert c.connections == 1 and c.requests == 3 and c.by_key["get.device.info"] == 1


# ---------------------------------------------------------------------------- misbehaviour


async def test_misbehaviour_modes(s9: CGMinerSim) -> None:
    host, summary = s9.address, {"command": "summary"}
    await s9.set_mode("hang")
    with pytest.raises(TimeoutError):
        await rpc(host, 4028, summary, wait=0.3)

    await s9.set_mode("reset")
    with pytest.raises(ConnectionResetError):
        await rpc(host, 4028, summary)

    await s9.set_mode("garbage")
    junk = await rpc(host, 4028, summary)
    assert junk.startswith(b"\xff\xfe") and len(junk) > 100
    with pytest.raises(UnicodeDecodeError):
        junk.decode()

    await s9.set_mode("slow", delay=0.3)
    started = time.monotonic()
    assert load(await rpc(host, 4028, summary))["SUMMARY"]
    assert time.monotonic() - started >= 0.3

    await s9.set_mode("huge", huge_size=2_000_000)
    big = await rpc(host, 4028, summary)
    assert len(big) > 2_000_000 and big.startswith(b'{"STATUS"')

    await s9.set_mode("offline")
    with pytest.raises(ConnectionRefusedError):
        await rpc(host, 4028, summary)
    await s9.set_mode("normal")
    assert load(await rpc(host, 4028, summary))["SUMMARY"]
    with pytest.raises(ValueError, match="misbehaviour"):
        await s9.set_mode("sulk")  # type: ignore[arg-type]


async def test_misbehaviour_per_server(toy: ToyWeb) -> None:
    await toy.set_mode("hang", servers="http")
    url = f"http://{toy.address}:{toy.ports['http']}/open"
    async with httpx.AsyncClient(timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(url)
    assert load(await rpc(toy.address, toy.ports["rpc"], {"command": "x"}))["id"] == 1
    await toy.set_mode("huge", servers=["http"], huge_size=100_000)
    async with httpx.AsyncClient(timeout=3) as client:
        assert len((await client.get(url)).content) > 100_000
    with pytest.raises(ValueError, match="no server"):
        await toy.set_mode("hang", servers="ssh")


async def test_move_to_keeps_identity(s9: CGMinerSim) -> None:
    mac = s9.state.mac
    await s9.move_to("127.77.0.20")
    with pytest.raises(ConnectionRefusedError):
        await rpc("127.77.0.2", 4028, {"command": "summary"})
    reply = await rpc_json(s9, {"command": "stats"})
    assert s9.address == s9.state.ip == "127.77.0.20" and reply["STATS"][1]["chain_acn6"] == 63
    assert s9.state.mac == mac


# ---------------------------------------------------------------------------- ports


async def test_unprivileged_fallback_when_forced(caplog: pytest.LogCaptureFixture) -> None:
    miner = ToyWeb("127.77.0.4")
    miner.assume_unprivileged = True
    with caplog.at_level(logging.WARNING, logger="asic_bridge.sim"):
        async with miner:
            assert miner.ports["http"] == 8080 and miner.ports["rpc"] == 4028
            async with httpx.AsyncClient(timeout=3) as client:
                assert (await client.get(f"http://{miner.address}:8080/open")).status_code == 200
    assert "listening on 8080 instead" in caplog.text


async def test_unprivileged_fallback_on_permission_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_listen = SimServer.listen

    async def deny_low_ports(self: SimServer, host: str, port: int) -> int:
        if 0 < port < 1024:
            raise PermissionError(errno.EACCES, "Permission denied")
        return await real_listen(self, host, port)

    monkeypatch.setattr(SimServer, "listen", deny_low_ports)
    first = ToyWeb("127.77.0.5", ports={"http": 80, "rpc": 8080})  # 8080 is taken by rpc
    async with first:
        assert first.ports["http"] == 8081 and first.ports["rpc"] == 8080


async def test_port_zero_and_bad_address() -> None:
    miner = ToyWeb("127.77.0.6", ports={"rpc": 0, "http": 0, "frames": 0})
    async with miner:
        assert all(p > 1024 for p in miner.ports.values())
        assert load(await rpc(miner.address, miner.ports["rpc"], {"command": "a"}))["P"] is None
    with pytest.raises(ValueError, match="IPv4"):
        ToyWeb("localhost")
    with pytest.raises(ValueError, match="unknown server"):
        ToyWeb("127.77.0.6", ports={"ssh": 22})
    with pytest.raises(OSError, match="not on this host"):
        async with ToyWeb("192.0.2.1"):
            pass


# ---------------------------------------------------------------------------- registry


def test_registry_and_specs() -> None:
    kinds = sim.list_kinds()
    assert ("cgminer", "AntMiner", "S9", "Stock") in kinds
    assert sim.KINDS["cgminer"] is CGMinerSim
    assert sim.parse_spec("cgminer@127.0.0.2") == ("cgminer", "127.0.0.2", 0)
    assert sim.parse_spec("cgminer@127.0.0.2:10000") == ("cgminer", "127.0.0.2", 10000)
    miner = sim.create("cgminer@127.0.0.1:1000")
    assert isinstance(miner, CGMinerSim) and miner.ports == {"rpc": 5028}
    other = sim.create("cgminer@127.0.0.1:2000")
    assert other.state.mac != miner.state.mac  # same address, different offset

    bad_specs: list[tuple[str, str]] = [
        ("cgminer", r"KIND\[:VERSION\]@ADDRESS"),
        ("@127.0.0.2", "missing KIND"),
        ("cgminer@", "IPv4"),
        ("cgminer@300.0.0.1", "IPv4"),
        ("cgminer@127.0.0.2:x", "port offset"),
        ("cgminer@127.0.0.2:70000", "port offset"),
        ("cgminer@127.0.0.2:65000", "past 65535"),
        ("nosuch@127.0.0.2", "unknown kind 'nosuch'.*cgminer"),
        ("a@b@c", r"KIND\[:VERSION\]@ADDRESS"),
    ]
    for spec, message in bad_specs:
        with pytest.raises(ValueError, match=message):
            sim.create(spec)

    class NoKind(sim.SimMiner):
        make, model, firmware = "a", "b", "c"
        default_ports = {"rpc": 4028}

    with pytest.raises(TypeError, match="kind"):
        sim.register(NoKind)


def test_versioned_kinds_parse_create_and_list(monkeypatch: pytest.MonkeyPatch) -> None:
    class Versioned(CGMinerSim):
        kind = "test_versioned"
        versions = ("2.0", "1.0")

    monkeypatch.setitem(sim.KINDS, "test_versioned", Versioned)
    assert sim.split_kind("test_versioned:1.0") == ("test_versioned", "1.0")
    assert sim.split_kind("test_versioned") == ("test_versioned", None)
    newest = sim.create("test_versioned@127.0.0.5")
    older = sim.create("test_versioned:1.0@127.0.0.5:100")
    assert (newest.served_version, older.served_version) == ("2.0", "1.0")
    assert older.ports == {"rpc": 4128}
    assert older.describe().startswith("test_versioned:1.0\t127.0.0.5\t")
    rows = [row for row in sim.list_kinds() if row[0].startswith("test_versioned")]
    assert [r[0] for r in rows] == ["test_versioned", "test_versioned:2.0", "test_versioned:1.0"]
    assert rows[0][3] == "Stock 2.0" and rows[2][3] == "Stock 1.0"
    with pytest.raises(ValueError, match=r"no firmware version '3.0' \(known: 2.0, 1.0\)"):
        sim.create("test_versioned:3.0@127.0.0.5")
    with pytest.raises(ValueError, match=r"has no firmware version '1\.0'"):
        sim.create("cgminer:1.0@127.0.0.5")  # a one-version kind takes no version
    with pytest.raises(ValueError, match="unknown firmware version"):
        Versioned("127.0.0.5", version="0.1")


# ---------------------------------------------------------------------------- fleet


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_fleet_of_200_starts_and_stops_clean() -> None:
    tasks_before = asyncio.all_tasks()
    fds_before = _open_fds()
    specs = [f"cgminer@127.78.{i // 200}.{i % 200 + 1}" for i in range(200)]
    async with asyncio.timeout(60):  # bounds the test; not a speed assertion
        miners = await sim.start_fleet(specs)
    assert len(miners) == 200 and all(m.running for m in miners)
    replies = await asyncio.gather(*(rpc_json(m, {"command": "version"}) for m in miners[::20]))
    assert all(r["VERSION"][0]["Type"] == "Antminer S9" for r in replies)
    assert len({m.state.mac for m in miners}) == 200

    await sim.stop_fleet(miners)
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == tasks_before
    assert _open_fds() <= fds_before + 2
    with pytest.raises(ConnectionRefusedError):
        await rpc(miners[0].address, 4028, {"command": "version"})


async def test_start_fleet_is_all_or_nothing() -> None:
    with pytest.raises(ValueError, match="both want port"):
        await sim.start_fleet(["cgminer@127.77.1.1", "cgminer@127.77.1.1"])
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.77.1.3", 4028))
    blocker.listen()
    try:
        with pytest.raises(OSError, match="cannot listen on rpc port 4028"):
            await sim.start_fleet(["cgminer@127.77.1.2", "cgminer@127.77.1.3"])
        with pytest.raises(ConnectionRefusedError):  # the good one was stopped again
            await rpc("127.77.1.2", 4028, {"command": "version"})
    finally:
        blocker.close()


async def test_run_fleet_until_event() -> None:
    stop = asyncio.Event()
    lines: list[str] = []
    runner = asyncio.create_task(
        sim.run_fleet(
            ["cgminer@127.77.2.1", "cgminer@127.77.2.2:100"], stop_event=stop, announce=lines.append
        )
    )
    for _ in range(100):
        if len(lines) == 2:
            break
        await asyncio.sleep(0.01)
    assert lines == ["cgminer\t127.77.2.1\trpc=4028", "cgminer\t127.77.2.2\trpc=4128"]
    assert load(await rpc("127.77.2.2", 4128, {"command": "version"}))["VERSION"]
    stop.set()
    await asyncio.wait_for(runner, 3)
    with pytest.raises(ConnectionRefusedError):
        await rpc("127.77.2.1", 4028, {"command": "version"})
