"""VNish on real captures: the parsers on what the firmware sent, the simulator in its shape.

Captures: tests/fixtures/real/vnish (1.2.6 from a web-UI HAR dump and a published API
reference, 1.2.0-rc5 from a commented real answer, and the firmware's own OpenAPI documents
of 1.2.6 and 1.3.4).  Expected values are worked out by hand from the raw payloads.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from real_captures import assert_same_shape, load, openapi_problems, openapi_schema

from asic_bridge import catalog, sim
from asic_bridge.drivers.base import ParseContext
from asic_bridge.drivers.vnish import (
    VNishMiner,
    parse_errors,
    parse_fw_ver,
    parse_hostname,
    parse_is_mining,
    parse_mac,
    parse_presets,
    parse_wattage,
    power_bounds,
    resolve_model,
)
from asic_bridge.errors import ConfigError, NotAppliedError
from asic_bridge.factory import get_miner
from asic_bridge.sim.vnish import VNishSim
from asic_bridge.transport.http import HTTPClient

S19 = catalog.lookup("Antminer S19", make="AntMiner")
CTX = ParseContext("SHA256", S19, None)


def cap(version: str, name: str) -> Any:
    return load("vnish", version, name)


def presets_126() -> list[Any]:
    """The published preset list; the document elides the first entry's chips as ``...``."""
    text = cap("1.2.6", "autotune-presets.txt")
    assert isinstance(text, str) and text.count("...") == 1
    listed = json.loads(text.replace(", ...]", "]"))
    assert isinstance(listed, list)
    return listed


# ----------------------------------------------------------------------------- parsers
def test_summary_126_failure_state() -> None:
    summary = cap("1.2.6", "summary.json")
    assert parse_fw_ver(CTX, summary) == "1.2.6"  # miner_type "Antminer S19 (Vnish 1.2.6)"
    assert resolve_model(summary["miner"]["miner_type"])[0] == "Antminer S19"
    assert parse_wattage(CTX, summary) == 0  # power_consumption 0
    assert parse_is_mining(CTX, summary) is False  # miner_state "failure"
    # the miner-level failure is an error with the firmware's code and text
    [error] = parse_errors(CTX, summary)
    assert (error.error_code, error.error_message) == (
        1002,
        "miner: Failed to parse miner configuration",
    )


def test_power_usage_is_efficiency_from_126() -> None:
    # 1.2.6's API document: power_usage "Deprecated. Same as power_efficiency"; the watts are
    # power_consumption.  A mining 1.2.6 summary (same keys, values of a running S19):
    running = json.loads(json.dumps(cap("1.2.6", "summary.json")))
    miner = running["miner"]
    miner.update(power_consumption=3250, power_usage=29, power_efficiency=29.4)
    assert parse_wattage(CTX, running) == 3250  # not 29
    doc = cap("1.2.6", "docs-api-doc.json")
    usage = doc["components"]["schemas"]["AntmMinerStats"]["properties"]["power_usage"]
    assert "power_efficiency" in usage["description"] and usage["deprecated"] is True


def test_summary_120_rc5_power_usage_was_watts() -> None:
    summary = cap("1.2.0-rc5", "summary.json")
    assert parse_fw_ver(CTX, summary) == "1.2.0-rc5"
    # power_consumption 146 and power_usage 146: the same watts on 1.2.0
    assert parse_wattage(CTX, summary) == 146
    without = json.loads(json.dumps(summary))
    del without["miner"]["power_consumption"]
    assert parse_wattage(CTX, without) == 146  # a summary with power_usage only: the watts
    assert parse_is_mining(CTX, summary) is True  # "initializing" is not a stopped state
    assert parse_errors(CTX, summary) == []  # chains "initializing", no failure


def test_info_126_network_facts() -> None:
    info = cap("1.2.6", "info.json")
    assert parse_mac(CTX, info) == "00:00:5e:00:53:01"  # system.network_status.mac (masked)
    assert parse_hostname(CTX, info) == "Antminer"
    # the 1.2.x summary has no system section: the MAC is not there to read
    with pytest.raises(ValueError):
        parse_mac(CTX, cap("1.2.6", "summary.json"))


def test_presets_126() -> None:
    presets = parse_presets(presets_126())
    # 16 entries: "disabled" (stock clocks, not a preset) and 1100 .. 4690 W
    assert [p.name for p in presets][:3] == ["1100", "1300", "1500"]
    assert len(presets) == 15
    # "1100 watt ~ 53 TH" -> 1100 W, 53 TH/s; status "untuned"
    assert (presets[0].power, presets[0].hashrate, presets[0].tuned) == (1100, 53.0, False)
    assert (presets[-1].power, presets[-1].hashrate) == (4690, 124.0)  # "4690 watt ~ 124 TH"
    assert power_bounds(presets) == (1100, 4690)


# ----------------------------------------------------------------------------- shapes
_hosts = itertools.count(1)


@contextlib.asynccontextmanager
async def running(version: str = "") -> AsyncIterator[tuple[VNishSim, HTTPClient]]:
    spec = f"vnish_s19jpro{':' + version if version else ''}@127.162.0.{next(_hosts)}"
    s = sim.create(spec)
    assert isinstance(s, VNishSim)
    s.state.jitter = 0.0
    await s.start()
    client = HTTPClient(s.address, s.ports["http"])
    try:
        yield s, client
    finally:
        await client.aclose()
        await s.stop()


# Present only in the failure state (the 1.2.6 capture is one); the simulator mines.
FAILURE_ONLY = ("$.miner.miner_status.description", "$.miner.miner_status.failure_code")


@pytest.mark.parametrize(
    ("version", "capture", "ignore"),
    [
        ("1.2.6", ("1.2.6", "summary.json"), FAILURE_ONLY),
        ("1.2.0", ("1.2.0-rc5", "summary.json"), ()),
    ],
)
async def test_summary_has_the_captured_shape(
    version: str, capture: tuple[str, str], ignore: tuple[str, ...]
) -> None:
    async with running(version) as (_, client):
        answer = (await client.get("/api/v1/summary")).json()
        assert_same_shape(cap(*capture), answer, ignore=ignore)


@pytest.mark.parametrize("name", ["info", "status", "perf-summary"])
async def test_public_pages_have_the_126_shape(name: str) -> None:
    async with running() as (_, client):
        answer = (await client.get(f"/api/v1/{name}")).json()
        assert_same_shape(cap("1.2.6", f"{name}.json"), answer)


async def test_authenticated_answers_have_the_126_shape() -> None:
    async with running() as (_, client):
        unlocked = (await client.post("/api/v1/unlock", json={"pw": "admin"})).json()
        assert_same_shape(cap("1.2.6", "unlock.json"), unlocked)
        auth = {"Authorization": unlocked["token"]}
        listed = (await client.get("/api/v1/autotune/presets", headers=auth)).json()
        assert_same_shape(presets_126(), listed)
        body = {"miner": {"misc": {"quiet_mode": True}}}
        saved = (await client.post("/api/v1/settings", json=body, headers=auth)).json()
        assert_same_shape(cap("1.2.6", "settings-post.json"), saved)


async def test_simulated_126_summary_keys_are_the_api_documents() -> None:
    doc = cap("1.2.6", "docs-api-doc.json")
    async with running() as (_, client):
        miner = (await client.get("/api/v1/summary")).json()["miner"]
        problems = openapi_problems(doc, "AntmMinerStats", miner)
        problems += openapi_problems(doc, "MinerStatus", miner["miner_status"])
        problems += openapi_problems(doc, "Cooling", miner["cooling"])
        for fan in miner["cooling"]["fans"]:
            problems += openapi_problems(doc, "Fan", fan)
        for pool in miner["pools"]:
            problems += openapi_problems(doc, "PoolStats", pool)
        for chain in miner["chains"]:
            problems += openapi_problems(doc, "AntmChain", chain)
        info = (await client.get("/api/v1/info")).json()
        problems += openapi_problems(doc, "InfoJson", info)
        problems += openapi_problems(doc, "SystemInfo", info["system"])
        assert problems == []


# ----------------------------------------------------------------------------- both versions
@pytest.mark.parametrize("version", ["1.2.6", "1.2.0"])
async def test_both_versions_read_right(version: str) -> None:
    async with running(version) as (s, _):
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, VNishMiner)
        try:
            data = await miner.get_data(include=["wattage", "mac", "hostname", "fw_ver"])
            r = s.state.read()
            assert data.wattage == round(r.wattage)  # power_consumption on both
            assert (data.mac, data.hostname) == (s.state.mac, s.state.hostname)  # from /info
            assert data.fw_ver == ("1.2.6" if version == "1.2.6" else "1.2.0-rc5")
        finally:
            await miner.aclose()


async def test_power_range_and_mode_come_from_the_presets() -> None:
    async with running() as (s, _):
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, VNishMiner)
        try:
            bounds = await miner.get_power_range()
            watts = [p["watts"] for p in s.presets]
            assert (bounds.low, bounds.high, bounds.source) == (min(watts), max(watts), "firmware")
            await miner.set_power_limit(2800)
            config = await miner.get_config()
            assert config.mining_mode is not None
            assert config.mining_mode.mode in miner.supported_modes  # "preset", an option now
        finally:
            await miner.aclose()


def test_134_document_keeps_the_126_meanings() -> None:
    doc = cap("1.3.4", "docs-api-doc.json")
    stats, _ = openapi_schema(doc, "AntmMinerStats")
    # still: power_consumption the watts, power_usage the deprecated efficiency
    assert stats["power_consumption"]["type"] == "integer"
    assert "power_efficiency" in stats["power_usage"]["description"]
    # new in 1.3.x: the throttle percentage in miner_status, a restart counter
    assert "throttled" in openapi_schema(doc, "MinerStatus")[0]
    assert "restart_count" in stats


async def test_a_preset_the_miner_does_not_keep_is_not_reported_applied() -> None:
    async with running() as (s, _):
        miner = await get_miner(s.address, use_cache=False)
        assert isinstance(miner, VNishMiner)
        try:

            def keeps_stock(preset: str) -> None:  # the POST is accepted, the preset not kept
                s.settings["miner"]["overclock"]["preset"] = "disabled"

            s._apply_preset = keeps_stock  # type: ignore[method-assign]
            with pytest.raises(NotAppliedError) as caught:
                await miner.set_power_limit(2800)
            # what the miner reports: its stock-clocks entry, itself a preset of its list
            assert (caught.value.wanted, caught.value.applied) == ("2800", "disabled")
        finally:
            await miner.aclose()


def _object_at(text: str, key: str) -> Any:
    """The complete JSON value (object or array) under ``"key":`` in a truncated document."""
    after = text.index(f'"{key}":') + len(key) + 3
    start = min(i for i in (text.find("{", after), text.find("[", after)) if i >= 0)
    depth = 0
    for end in range(start, len(text)):
        depth += {"{": 1, "[": 1, "}": -1, "]": -1}.get(text[end], 0)
        if depth == 0:
            return json.loads(text[start : end + 1])
    raise AssertionError(f"{key} is cut off in the capture")


async def test_settings_misc_and_cooling_have_the_126_keys() -> None:
    # the HAR dump cut the settings document at 3000 characters, inside overclock.chains;
    # cooling and misc come before the cut, whole
    text = cap("1.2.6", "settings-truncated.txt")
    misc, cooling = _object_at(text, "misc"), _object_at(text, "cooling")
    assert misc["restart_temp"] == 90 and cooling["mode"] == {"name": "immers"}
    async with running() as (_, client):
        auth = {
            "Authorization": (await client.post("/api/v1/unlock", json={"pw": "admin"})).json()[
                "token"
            ]
        }
        live = (await client.get("/api/v1/settings", headers=auth)).json()["miner"]
        assert_same_shape(misc, live["misc"])
        # the captured miner runs immersion (a mode without the auto target "param")
        assert_same_shape(cooling, live["cooling"], ignore=["$.mode.param"])


async def test_mining_summary_pools_and_cooling_have_the_126_shape() -> None:
    # a mining 1.2.6 summary, cut by the HAR dump inside "chains": pools and cooling whole
    text = cap("1.2.6", "summary-mining-truncated.txt")
    pools, cooling = _object_at(text, "pools"), _object_at(text, "cooling")
    # the user pool's shares: 10 accepted, 1 rejected; then the DevFee entry
    assert [(p["url"], p["accepted"], p["rejected"]) for p in pools] == [
        ("europe.mining-dutch.nl:9996", 10, 1),
        ("DevFee", 0, 0),
    ]
    # hr_realtime 63851.406 GH/s and instant_hashrate 63.851406 (TH/s): the same rate
    head = json.loads(text[: text.index('"pools"')].rstrip().rstrip(",") + "}}")
    assert head["miner"]["hr_realtime"] == pytest.approx(head["miner"]["instant_hashrate"] * 1000)
    async with running() as (_, client):
        miner = (await client.get("/api/v1/summary")).json()["miner"]
        assert_same_shape(pools, miner["pools"])
        assert_same_shape(cooling, miner["cooling"])
        assert_same_shape(head["miner"], {k: miner[k] for k in head["miner"]})


# ----------------------------------------------------------------------------- fan control
def test_fan_mode_and_duty_from_the_summaries() -> None:
    from asic_bridge.drivers.vnish import parse_fan_mode, parse_fan_percent

    # 1.2.6: cooling.settings.mode.name "auto", fan_duty 0 (no fan turning: fan_num 0)
    assert parse_fan_mode(CTX, cap("1.2.6", "summary.json")) == "normal"
    assert parse_fan_percent(CTX, cap("1.2.6", "summary.json")) == 0
    # 1.2.0-rc5: "immersion" (all four fans "lost"), fan_duty 100
    assert parse_fan_mode(CTX, cap("1.2.0-rc5", "summary.json")) == "immersion"
    assert parse_fan_percent(CTX, cap("1.2.0-rc5", "summary.json")) == 100
    # the settings document's name for it is "immers" (1.2.6 settings, ModeRaw)
    assert "immers" in cap("1.2.6", "settings-truncated.txt")
    # the API documents name the summary's modes: 1.2.6 FanMode, 1.3.4 FanSettingsMode
    schemas = cap("1.2.6", "docs-api-doc.json")["components"]["schemas"]
    assert set(schemas["FanMode"]["enum"]) == {"auto", "manual", "immersion"}
    schemas = cap("1.3.4", "docs-api-doc.json")["components"]["schemas"]
    names = {v["properties"]["name"]["enum"][0] for v in schemas["FanSettingsMode"]["oneOf"]}
    assert names == {"auto", "manual", "immersion"}


def test_fan_garbage_is_no_reading() -> None:
    from asic_bridge.drivers.vnish import parse_fan_mode, parse_fan_percent

    summary = cap("1.2.6", "summary.json")
    for bad in (-1, 101, "x", None):
        broken = {"miner": dict(summary["miner"], cooling=dict(summary["miner"]["cooling"],
                                                               fan_duty=bad))}  # fmt: skip
        assert parse_fan_percent(CTX, broken) is None
    odd = {"miner": dict(summary["miner"], cooling={"settings": {"mode": {"name": "turbo"}}})}
    assert parse_fan_mode(CTX, odd) is None


async def test_set_fan_mode_never_carries_a_duty_into_the_auto_target() -> None:
    """cooling.mode.param is the target temperature in auto and the duty in manual."""
    async with running() as (s, _):
        miner = await get_miner(s.address, use_cache=False, ports=s.ports)
        assert isinstance(miner, VNishMiner)
        assert miner.fan_modes() == ("normal", "manual", "immersion")
        await miner.get_config()  # seen in auto at 75 °C
        await miner.set_fan_mode({"mode": "manual", "speed": 40})
        cooling = s.settings["miner"]["cooling"]
        assert cooling["mode"] == {"name": "manual", "param": 40} and cooling["fan_min_count"] == 4
        data = await miner.get_data(include=["fan_mode", "fan_percent"])
        assert (data.fan_mode, data.fan_percent) == ("manual", 40)
        await miner.set_fan_mode({"mode": "normal"})
        assert s.settings["miner"]["cooling"]["mode"] == {"name": "auto", "param": 75}
        assert s.settings["miner"]["cooling"]["fan_min_duty"] == 10  # kept
        await miner.set_fan_mode({"mode": "immersion"})
        assert s.settings["miner"]["cooling"]["mode"] == {"name": "immers"}
        assert (await miner.get_data(include=["fan_mode"])).fan_mode == "immersion"
        fresh = await get_miner(s.address, use_cache=False, ports=s.ports)
        assert fresh is not None
        with pytest.raises(ConfigError, match="target temperature"):
            await fresh.set_fan_mode({"mode": "normal"})  # no auto target known: none invented
        assert s.settings["miner"]["cooling"]["mode"] == {"name": "immers"}
        await miner.aclose()
        await fresh.aclose()
