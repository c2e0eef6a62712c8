"""Avalon parsers on real cgminer 4.11.1 captures (A1246, A1566, Avalon Q); values by hand."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from real_captures import assert_same_shape, load, rpc_answers

from asic_bridge import sim
from asic_bridge.drivers import avalon as av
from asic_bridge.drivers.base import Identity, ParseContext
from asic_bridge.transport.rpc import RPCClient

FAMILY = "avalon"
A1566 = "24102401_25462b2_9ddf522"
A1246 = "21072802_4ec6bb0_211fc46"
AVQ = "25052801_14a19a2"


def cap(version: str, name: str) -> Any:
    return load(FAMILY, version, name)


def ctx_for(version_payload: Any | None) -> ParseContext:
    info = None
    if version_payload is not None:
        _, info = av.resolve_model(version_payload["VERSION"][0])
    return ParseContext("SHA256", info, Identity(ip="", make="AvalonMiner", firmware="Stock"))


def test_a1566_identity() -> None:
    version = cap(A1566, "version.json")
    _, info = av.resolve_model(version["VERSION"][0])
    assert info is not None and info.model == "Avalon 1566"  # MODEL "15-194"
    c = ctx_for(version)
    assert av.parse_fw_ver(c, version) == "24102401_25462b2_9ddf522"  # VERSION
    assert av.parse_mac(c, version) == "12:34:56:78:90:12"  # MAC "123456789012", no colons


def test_a1566_estats() -> None:
    estats = cap(A1566, "estats.json")
    c = ctx_for(cap(A1566, "version.json"))
    assert av.parse_expected_hashrate(c, estats) == pytest.approx(201.92042)  # GHSmm GH/s
    assert [f.speed for f in av.parse_fans(c, estats) or []] == [4275, 4282]  # Fan1, Fan2
    assert av.parse_wattage(c, estats) == 3731  # WALLPOWER[3731]
    assert av.parse_wattage_limit(c, estats) == 3515  # MPO[3515]
    assert av.parse_env_temp(c, estats) == 31.0  # Temp[31]
    assert av.parse_fault_light(c, estats) is False  # Led[0]
    assert av.parse_is_mining(c, estats) is True  # SYSTEMSTATU[Work: In Work, ...]
    assert av.parse_errors(c, estats) == []  # ECHU[0 0 0] ECMM[0] PS[0 ...]
    assert (av.mode_option(estats), av.parse_work_level(estats)) == ("workmode", 1)
    boards = av.parse_hashboards(c, estats)
    # MGHS[59459.52 61407.83 63139.66] GH/s; MTavg[69 70 71] board, MTmax[77 78 77] chip;
    # PVT_T0 lists 160 chip temperatures
    assert [round(b.hashrate or 0, 3) for b in boards] == [59.460, 61.408, 63.140]
    assert [(b.temp, b.chip_temp) for b in boards] == [(69, 77), (70, 78), (71, 77)]
    assert [b.chips for b in boards] == [160, 160, 160]


def test_a1566_devs_and_pools() -> None:
    c = ctx_for(None)
    pools = av.parse_pools(c, cap(A1566, "pools.json")) or []
    assert [p.url for p in pools] == [
        "stratum+tcp://stratum.pool.io:3333",
        "stratum+tcp://stratum.pool.io:3334",
        "stratum+tcp://stratum.pool.io:3335",
    ]
    assert (pools[0].accepted, pools[0].rejected, pools[0].active) == (148, 1, True)


def test_a1246_stats_without_wallpower() -> None:
    stats = cap(A1246, "stats.json")
    c = ctx_for(None)
    # no WALLPOWER on this build: PS[0 1214 1316 242 3189 1320 3504], 7th value 3504 W
    assert av.parse_wattage(c, stats) == 3504
    assert av.parse_wattage_limit(c, stats) == 3200  # MPO[3200]
    assert [f.speed for f in av.parse_fans(c, stats) or []] == [5344, 5392, 5349, 5309]
    assert av.parse_env_temp(c, stats) == 30.0  # Temp[30]
    boards = av.parse_hashboards(c, stats)
    # MGHS[26907.01 26025.06 26724.56] GH/s; 120 PVT_T entries per board
    assert [round(b.hashrate or 0, 3) for b in boards] == [26.907, 26.025, 26.725]
    assert [b.chips for b in boards] == [120, 120, 120]


def test_avalon_q_idle_split_strings() -> None:
    stats = cap(AVQ, "stats.json")
    c = ctx_for(cap(AVQ, "version.json"))
    # 'MM ID0:Summary' + 'HBinfo': SYSTEMSTATU[Work: In Idle, ...] -> not mining
    assert av.parse_is_mining(c, stats) is False
    assert av.parse_env_temp(c, stats) == 26.0  # ITemp[26] (home units have no Temp)
    assert av.parse_wattage(c, stats) == 146  # PS[0 1222 4 0 0 2245 146], 7th value
    assert av.parse_wattage_limit(c, stats) == 800  # MPO[800]
    assert av.parse_fault_light(c, stats) is None  # no Led[]: LED is a night light here
    assert av.parse_expected_hashrate(c, stats) == pytest.approx(55.03279)  # GHSmm
    assert (av.mode_option(stats), av.parse_work_level(stats)) == ("workmode", 0)
    (board,) = av.parse_hashboards(c, stats)
    # MGHS[44499.41] is the average since start (= GHSavg); GHSspd[0.00]: nothing hashes now
    assert (board.hashrate, board.active) == (0.0, False)
    assert (board.inlet_temp, board.outlet_temp) == (27.0, 27.0)  # HBITemp, HBOTemp
    assert board.chips == 160  # PVT_T0 in the HB0 block


def test_avalon_q_litestats_reads_like_stats() -> None:
    lite = cap(AVQ, "litestats.json")
    c = ctx_for(cap(AVQ, "version.json"))
    assert av.parse_is_mining(c, lite) is False
    assert av.parse_wattage(c, lite) == 146  # PS 7th value
    (board,) = av.parse_hashboards(c, lite)
    assert board.chips is None  # litestats has no PVT_T block


def test_avalon_q_version_summary_pools() -> None:
    version = cap(AVQ, "version.json")
    c = ctx_for(version)
    assert c.model_info is not None and c.model_info.model.startswith("Avalon Q")
    assert av.parse_mac(c, version) == "00:00:5e:00:53:04"
    summary = cap(AVQ, "summary.json")
    assert av.parse_summary_hashrate(c, summary) == 0.0  # MHS 5s / 1m 0.0 while idle
    assert av.parse_uptime(c, summary) == 37714  # Elapsed
    (pool,) = av.parse_pools(c, cap(AVQ, "pools.json")) or []
    assert (pool.url, pool.user, pool.accepted) == (
        "stratum+tcp://pool.example.com:4444",
        "worker1",
        890,
    )


# ------------------------------------------------------------ simulators in the captures' shape
_hosts = itertools.count(1)


async def _ask(spec: str, *commands: str) -> list[Any]:
    """The kind (version) on its own 127.172.0.x address answers each RPC command."""
    return await rpc_answers(f"{spec}@127.172.0.{next(_hosts)}", *commands)


def _mm_keys(payload: Any) -> list[str]:
    """The bracketed keys of the first ``MM ID<n>`` string and of ``HBinfo``, in order."""
    for item in payload["STATS"]:
        for key, value in item.items():
            if key.startswith("MM ID"):
                return list(av.parse_mm_fields(value)) + list(
                    av.parse_mm_fields(item.get("HBinfo", ""))
                )
    return []


@pytest.mark.parametrize(
    ("spec", "version", "command", "name"),
    [
        ("avalon_1566", A1566, "version", "version.json"),
        ("avalon_1566", A1566, "devs", "devs.json"),
        ("avalon_1566", A1566, "pools", "pools.json"),
        ("avalon_1566", A1566, "estats", "estats.json"),
        ("avalon_1246:21072802_4ec6bb0_211fc46", A1246, "stats", "stats.json"),
        ("avalon_q", AVQ, "version", "version.json"),
        ("avalon_q", AVQ, "summary", "summary.json"),
        ("avalon_q", AVQ, "devs", "devs.json"),
        ("avalon_q", AVQ, "pools", "pools.json"),
        ("avalon_q", AVQ, "stats", "stats.json"),
        ("avalon_q", AVQ, "estats", "stats.json"),  # estats: the device entry of stats
    ],
)
async def test_simulator_answers_in_the_capture_shape(
    spec: str, version: str, command: str, name: str
) -> None:
    capture = cap(version, name)
    (answer,) = await _ask(spec, command)
    assert_same_shape(capture, answer)
    if command in ("estats", "stats"):
        # the MM string is one JSON string: its Key[value] pairs are the real shape
        assert _mm_keys(answer) == _mm_keys(capture)


async def test_a1246_build_reports_workmode_and_takes_it() -> None:
    s = sim.create(f"avalon_1246@127.172.1.{next(_hosts)}")  # newest build: 21072802
    await s.start()
    try:
        client = RPCClient(s.address, s.ports["rpc"])
        estats = await client.send("estats")
        assert av.mode_option(estats) == "workmode"  # WORKMODE[1] as in the capture
        answer = await client.send("ascset", "0,workmode,set,0")
        assert answer["STATUS"][0]["STATUS"] == "S"
        assert av.parse_work_level(await client.send("estats")) == 0
    finally:
        await s.stop()


# ----------------------------------------------------------------------------- fan control
def test_fan_percent_is_fanr() -> None:
    c = ctx_for(None)
    assert av.parse_fan_percent(c, cap(A1566, "estats.json")) == 49  # FanR[49%]
    assert av.parse_fan_percent(c, cap(A1246, "stats.json")) == 72  # FanR[72%]
    assert av.parse_fan_percent(c, cap(AVQ, "stats.json")) == 0  # FanR[0%]: idle, fans off


def test_fan_garbage_is_no_reading_and_no_fan_write_is_offered() -> None:
    c = ctx_for(None)
    for bad in ("abc%", "120%", "-4%", ""):
        estats = {"STATS": [{"MM ID0": f"Ver[1] FanR[{bad}] Temp[30]"}]}
        assert av.parse_fan_percent(c, estats) is None
    assert av.parse_fan_percent(c, {"STATS": [{"MM ID0": "Ver[1] Temp[30]"}]}) is None
    # ascset fan-spd (15-100, -1 auto) exists, but no reading says auto or manual: a write
    # could not be confirmed, so the driver offers none
    for cls in (av.AvalonMiner, av.AvalonHome):
        assert cls("127.0.0.1").fan_modes() == ()
