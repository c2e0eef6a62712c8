"""The metrics feature without a broker: what each bus event does to the exposition
(``Metrics.render``, the text a scrape gets).  The collector's bounds and a real scrape over
HTTP and by a real Prometheus: tests/test_bridge_metrics.py."""

from __future__ import annotations

from test_bridge_metrics import parse, value

from asic_bridge.bridge.adoption import Device
from asic_bridge.bridge.config import MetricsConfig
from asic_bridge.bridge.events import (
    CommandAnswered,
    Connected,
    EventBus,
    MinerOffline,
    MinerOnline,
    MinerRenamed,
    PollFailed,
    PollSucceeded,
    WatchdogActed,
)
from asic_bridge.bridge.features.metrics import Metrics
from asic_bridge.bridge.registry import DeviceRecord
from asic_bridge.data import MinerData

HASHRATE = "asic_miner_hashrate_hashes_per_second"


def _rig(*ids: str) -> tuple[EventBus, Metrics, dict[str, Device]]:
    bus = EventBus()
    devices = {
        i: Device(DeviceRecord(id=i, mac=None, ip="10.0.0.1", make="X", firmware="Y")) for i in ids
    }
    return bus, Metrics(bus, lambda: list(devices.values()), MetricsConfig()), devices


async def _samples(metrics: Metrics) -> dict[str, list[tuple[dict[str, str], float]]]:
    return parse((await metrics.render()).decode())


async def test_failed_polls_are_counted_by_family_and_reason() -> None:
    bus, metrics, devices = _rig("m1")
    for reason in ("timeout", "timeout", "auth"):
        await bus.emit(PollFailed(devices["m1"], reason, 0.5))
    samples = await _samples(metrics)
    failures = "asic_bridge_poll_failures_total"
    assert value(samples, failures, family="X/Y", reason="timeout") == 2.0
    assert value(samples, failures, family="X/Y", reason="auth") == 1.0
    # a failed poll took time too: it is in the poll histogram
    assert value(samples, "asic_bridge_poll_duration_seconds_count", family="X/Y") == 3.0


async def test_online_offline_and_no_stale_figures_for_a_miner_that_is_gone() -> None:
    bus, metrics, devices = _rig("m1")
    miner = devices["m1"]
    await bus.emit(MinerOnline(miner, back=False))
    await bus.emit(PollSucceeded(miner, MinerData("10.0.0.1", hashrate=2.0), 0.0, 0.1))
    samples = await _samples(metrics)
    assert value(samples, "asic_miner_up", miner="m1") == 1.0
    assert value(samples, HASHRATE, miner="m1") == 2e12
    await bus.emit(MinerOffline(miner, was_online=True))
    samples = await _samples(metrics)
    assert value(samples, "asic_miner_up", miner="m1") == 0.0
    assert HASHRATE not in samples  # its last figures are not shown as if current


async def test_a_renamed_miner_keeps_its_reading_under_the_new_id() -> None:
    bus, metrics, devices = _rig("old")
    miner = devices.pop("old")
    await bus.emit(MinerOnline(miner, back=False))
    await bus.emit(PollSucceeded(miner, MinerData("10.0.0.1", hashrate=3.0), 0.0, 0.1))
    miner.record.id = "new"
    devices["new"] = miner
    await bus.emit(MinerRenamed(miner, old_id="old"))
    samples = await _samples(metrics)
    assert value(samples, "asic_miner_up", miner="new") == 1.0
    assert value(samples, HASHRATE, miner="new") == 3e12
    assert not [lab for rows in samples.values() for lab, _ in rows if lab.get("miner") == "old"]


async def test_commands_reconnects_and_watchdog_actions_are_counted() -> None:
    bus, metrics, devices = _rig("m1")
    for status in ("ok", "ok", "error"):
        await bus.emit(CommandAnswered("m1", status))
    await bus.emit(Connected())  # the first session is not a reconnect
    samples = await _samples(metrics)
    assert value(samples, "asic_bridge_mqtt_reconnects_total") == 0.0
    await bus.emit(Connected())
    await bus.emit(WatchdogActed(devices["m1"], "hashrate_zero", "reboot", "ok"))
    samples = await _samples(metrics)
    assert value(samples, "asic_bridge_commands_total", outcome="ok") == 2.0
    assert value(samples, "asic_bridge_commands_total", outcome="error") == 1.0
    assert value(samples, "asic_bridge_mqtt_reconnects_total") == 1.0
    actions = "asic_bridge_watchdog_actions_total"
    assert value(samples, actions, rule="hashrate_zero", action="reboot", outcome="ok") == 1.0
