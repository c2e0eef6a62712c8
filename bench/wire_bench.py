"""Our hand-written wire code against the ecosystem's libraries, on the same simulators.

    sudo .venv/bin/python bench/wire_bench.py [--miners 20] [--rounds 100] [--only grpc] [--fresh]
    (aiohttp and grpclib come with the bench extra, pip install -e '.[bench]'; without
    them their rows are skipped and ours are still measured)

Re-executes itself under ``unshare -n`` (root needed).  Simulated miners run in their own
process; each client runs as its own process and reports its CPU time (user + system) over
``--rounds`` rounds after one warm-up round, a round being one request to every miner at
once on kept-alive connections (what a poll does).  Compared, per request:

* HTTP/1.1 with digest auth (Antminer CGI) and without auth (ESP-Miner JSON):
  ``transport/http.py`` (httpx's request and auth models over our ``transport/wire.py``)
  against aiohttp's client (C parser, ``DigestAuthMiddleware``), one session per miner;
* gRPC unary calls (BOS+ ``GetMinerStats``, logged in once): ``transport/grpc.py`` against
  grpclib (h2 as well), one channel per miner.  grpclib gets a pass-through codec and both
  sides decode the reply with our schema decoder, so the figure compares the gRPC stacks.

Bodies are parsed with orjson on both sides.  ``--fresh``: every HTTP request on a new
connection (keep-alive expiry 0 here, ``force_close`` for aiohttp), as the bridge sees them
at 30 s polls against a miner keep-alive of 5-15 s.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NET = "127.77.0"
GROUPS = {"digest": "antminer_s19jpro", "plain": "bitaxe_gamma", "grpc": "braiins_s19"}


def _hosts(group: str, miners: int) -> list[str]:
    block = list(GROUPS).index(group)
    return [f"127.77.{block}.{i + 1}" for i in range(miners)]


# ---------------------------------------------------------------- clients (own processes)
async def _rounds(one: Any, hosts: list[str], rounds: int) -> dict[str, float]:
    await asyncio.gather(*(one(h) for h in hosts))  # warm-up: connect, log in, learn nonce
    t0 = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(rounds):
        await asyncio.gather(*(one(h) for h in hosts))
    t1 = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "user": t1.ru_utime - t0.ru_utime,
        "sys": t1.ru_stime - t0.ru_stime,
        "requests": rounds * len(hosts),
    }


FRESH = os.environ.get("ASIC_BENCH_FRESH") == "1"


async def _ours_http(hosts: list[str], rounds: int, digest: bool) -> dict[str, float]:
    from asic_bridge.transport import wire
    from asic_bridge.transport.http import HTTPClient, digest_auth

    if FRESH:
        init = wire.MinerTransport.__init__

        def no_keepalive(self: Any, **options: Any) -> None:
            init(self, **{**options, "keepalive_expiry": 0.0})

        wire.MinerTransport.__init__ = no_keepalive  # type: ignore[method-assign]

    path = "/cgi-bin/get_system_info.cgi" if digest else "/api/system/info"
    clients = {
        h: HTTPClient(h, 80, auth=digest_auth("root", "root") if digest else None) for h in hosts
    }

    async def one(host: str) -> None:
        result = await clients[host].get(path)
        assert result.status == 200, result.status
        result.json()

    return await _rounds(one, hosts, rounds)


async def _aiohttp(hosts: list[str], rounds: int, digest: bool) -> dict[str, float]:
    import aiohttp
    import orjson

    path = "/cgi-bin/get_system_info.cgi" if digest else "/api/system/info"
    sessions = {
        h: aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=FRESH),
            middlewares=(aiohttp.DigestAuthMiddleware("root", "root"),) if digest else (),
        )
        for h in hosts
    }

    async def one(host: str) -> None:
        async with sessions[host].get(f"http://{host}{path}") as response:
            assert response.status == 200, response.status
            orjson.loads(await response.read())

    try:
        return await _rounds(one, hosts, rounds)
    finally:
        await asyncio.gather(*(s.close() for s in sessions.values()))


def _login_request() -> bytes:
    from asic_bridge.drivers.braiins import LOGIN_REQUEST
    from asic_bridge.transport.grpc import encode_message

    return encode_message({"username": "root", "password": "root"}, LOGIN_REQUEST)


STATS = "/braiins.bos.v1.MinerService/GetMinerStats"
LOGIN = "/braiins.bos.v1.AuthenticationService/Login"


async def _ours_grpc(hosts: list[str], rounds: int) -> dict[str, float]:
    from asic_bridge.drivers.braiins import MINER_STATS_RESPONSE
    from asic_bridge.transport.grpc import GRPCClient, decode_message

    clients = {h: GRPCClient(h, 50051, timeout=10) for h in hosts}
    tokens = {}
    for host, client in clients.items():
        reply = await client.call(LOGIN, _login_request())
        tokens[host] = reply.headers["authorization"]

    async def one(host: str) -> None:
        reply = await clients[host].call(STATS, b"", metadata={"authorization": tokens[host]})
        decode_message(reply.message, MINER_STATS_RESPONSE)

    return await _rounds(one, hosts, rounds)


class RawCodec:
    """grpclib codec that hands the message bytes through (our decoder reads them)."""

    __content_subtype__ = "proto"

    def encode(self, message: Any, message_type: Any) -> bytes:
        return bytes(message)

    def decode(self, data: bytes, message_type: Any) -> bytes:
        return data


async def _grpclib(hosts: list[str], rounds: int) -> dict[str, float]:
    from grpclib.client import Channel
    from grpclib.const import Cardinality

    from asic_bridge.drivers.braiins import MINER_STATS_RESPONSE
    from asic_bridge.transport.grpc import decode_message

    channels = {h: Channel(h, 50051, codec=RawCodec()) for h in hosts}  # type: ignore[arg-type]
    tokens = {}
    for host, channel in channels.items():
        async with channel.request(LOGIN, Cardinality.UNARY_UNARY, None, None) as stream:
            await stream.send_message(_login_request(), end=True)
            await stream.recv_initial_metadata()
            headers = dict(stream.initial_metadata or {})
            await stream.recv_message()
            await stream.recv_trailing_metadata()
        tokens[host] = headers["authorization"]

    async def one(host: str) -> None:
        metadata = {"authorization": tokens[host]}
        request = channels[host].request(
            STATS, Cardinality.UNARY_UNARY, None, None, metadata=metadata
        )
        async with request as stream:
            await stream.send_message(b"", end=True)
            message = await stream.recv_message()
            await stream.recv_trailing_metadata()
        decode_message(message, MINER_STATS_RESPONSE)

    try:
        return await _rounds(one, hosts, rounds)
    finally:
        for channel in channels.values():
            channel.close()


CLIENTS = {
    "digest/ours": lambda h, r: _ours_http(h, r, digest=True),
    "digest/aiohttp": lambda h, r: _aiohttp(h, r, digest=True),
    "plain/ours": lambda h, r: _ours_http(h, r, digest=False),
    "plain/aiohttp": lambda h, r: _aiohttp(h, r, digest=False),
    "grpc/ours": _ours_grpc,
    "grpc/grpclib": _grpclib,
}


#: The library each comparison client needs (the bench extra); without it the row is skipped.
LIBRARIES = {"digest/aiohttp": "aiohttp", "plain/aiohttp": "aiohttp", "grpc/grpclib": "grpclib"}


def _client_main(name: str, rounds: int, hosts: list[str]) -> None:
    result = asyncio.run(CLIENTS[name](hosts, rounds))
    json.dump(result, sys.stdout)


# ---------------------------------------------------------------- the bench
def _bench(args: argparse.Namespace) -> None:
    from bench.machine import describe, load_average

    print(describe(asic_bridge=sys.executable))
    groups = [args.only] if args.only else list(GROUPS)
    specs = [f"{GROUPS[g]}@{ip}" for g in groups for ip in _hosts(g, args.miners)]
    sim_code = (
        "import asyncio, sys\nfrom asic_bridge.sim import run_fleet\n"
        "asyncio.run(run_fleet(sys.argv[1:], announce=None))\n"
    )
    sim = subprocess.Popen([sys.executable, "-c", sim_code, *specs])
    try:
        time.sleep(3)
        rows = {}
        for name in CLIENTS:
            group = name.split("/")[0]
            if group not in groups:
                continue
            library = LIBRARIES.get(name)
            if library is not None and importlib.util.find_spec(library) is None:
                print(f"{name}: skipped, {library} is not installed (the bench extra)")
                continue
            out = subprocess.run(
                [sys.executable, __file__, "--client", name, "--rounds", str(args.rounds),
                 *_hosts(group, args.miners)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if out.returncode != 0:
                sys.exit(f"{name} failed:\n{out.stderr[-3000:]}")
            rows[name] = json.loads(out.stdout)
    finally:
        sim.terminate()
        sim.wait(10)
    print(f"load average (1/5/15 min) after: {load_average()}")
    kept = "a new connection per HTTP request" if FRESH else "kept-alive connections"
    print(f"{args.miners} miners per case, {args.rounds} rounds of one request to each at once")
    print(f"HTTP on {kept}")
    print(f"\n{'CPU per request (us)':34}{'user':>8}{'sys':>8}{'total':>8}{'ratio':>8}")
    for name, row in rows.items():
        n = row["requests"]
        total = (row["user"] + row["sys"]) / n * 1e6
        group = name.split("/")[0]
        ours = rows[f"{group}/ours"]
        ours_total = (ours["user"] + ours["sys"]) / ours["requests"] * 1e6
        print(
            f"{name:34}{row['user'] / n * 1e6:8.0f}{row['sys'] / n * 1e6:8.0f}{total:8.0f}"
            f"{total / max(ours_total, 1e-9):7.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--miners", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--only", choices=list(GROUPS), help="run one case (default: all)")
    parser.add_argument(
        "--fresh", action="store_true", help="a new connection for every HTTP request"
    )
    parser.add_argument("--client", choices=list(CLIENTS), help=argparse.SUPPRESS)
    parser.add_argument("hosts", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fresh:
        os.environ["ASIC_BENCH_FRESH"] = "1"  # read by the client processes
        global FRESH
        FRESH = True
    if args.client:
        _client_main(args.client, args.rounds, args.hosts)
        return
    if os.environ.get("ASIC_BENCH_NETNS") != "1":
        if os.geteuid() != 0:
            sys.exit("wire_bench needs root (unshare -n)")
        env = {**os.environ, "ASIC_BENCH_NETNS": "1"}
        os.execvpe("unshare", ["unshare", "-n", sys.executable, __file__, *sys.argv[1:]], env)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    _bench(args)


if __name__ == "__main__":
    main()
