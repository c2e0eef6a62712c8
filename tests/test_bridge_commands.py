"""Commands and their answers, end to end: transactions, per-field topics, bad input.

Real parts as in test_bridge_mqtt: an in-process Bridge, simulated miners on 127.14.X.Y, a real
broker (amqtt and mosquitto; MQTT 5 properties on mosquitto only) and a client.  What a miner
did is read from the simulator (its state and request counters), never from the bridge.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bridge_support import (
    Broker,
    MosquittoBroker,
    address_block,
    collector,
    mosquitto_fixture,  # noqa: F401  (the `mosquitto` fixture)
)
from test_bridge_mqtt import (
    ANTMINER,
    SOLO,
    Rig,
    bridge_rig,
    broker_fixture,  # noqa: F401  (the `broker` fixture)
    warm_up,
)

from asic_bridge.bridge import commands as cmd
from asic_bridge.bridge.commands import Action, RequestError, Transactions
from asic_bridge.bridge.fleet import MAX_TARGET_W
from asic_bridge.bridge.power_inputs import PowerInputError, parse_set_payload
from asic_bridge.bridge.registry import DeviceRecord

DEEP = "[" * 300 + "]" * 300  # deeper than orjson can encode (254)
HUGE_INT = 2**70  # beyond the 64 bits orjson can encode


def _props(reply_to: str, correlation: bytes) -> Any:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.ResponseTopic = reply_to
    props.CorrelationData = correlation
    return props


def _record() -> DeviceRecord:
    return DeviceRecord(
        id="m1",
        mac=None,
        ip="127.0.0.1",
        capabilities=["power_limit", "stop_mining", "fault_light"],
        power_min=1000,
        power_max=4000,
    )


# ============================================================================ pure parts
def test_transactions_answer_a_retry_and_forget_a_replaced_or_expired_id() -> None:
    now = [0.0]
    memory: Transactions[str] = Transactions(ttl=60, size=3, clock=lambda: now[0])
    stop = (Action("mining", False),)
    start = (Action("mining", True),)
    memory.remember("m1", "t1", stop, "first")
    assert memory.recall("m1", "t1", stop) == "first"  # a retry
    assert memory.recall("m2", "t1", stop) is None  # the id is per miner
    assert memory.recall("m1", "t1", start) is None  # a different command under the id
    memory.remember("m1", "t1", start, "second")  # ... runs and replaces it
    assert memory.recall("m1", "t1", stop) is None
    assert memory.recall("m1", "t1", start) == "second"
    assert memory.recall("m1", 1, start) is None  # 1 and "1" are different ids
    now[0] = 61.0
    assert memory.recall("m1", "t1", start) is None  # expired
    for i in range(10):
        memory.remember("m1", f"x{i}", stop, str(i))
    assert len(memory) == 3  # bounded
    assert memory.recall("m1", "x9", stop) == "9" and memory.recall("m1", "x0", stop) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (HUGE_INT, "integer"),
        (-HUGE_INT, "integer"),
        (json.loads("[" * 300 + "]" * 300), "string"),
        ({"a": 1}, "string"),
        ("x" * 129, "128"),
        (1.5, "string"),
        (True, "string"),
        ("", "empty"),
    ],
)
def test_unusable_transactions_are_refused(value: Any, reason: str) -> None:
    with pytest.raises(RequestError, match=reason):
        cmd.check_transaction(value)


def test_usable_transactions() -> None:
    for value in ("t1", "x" * 128, 0, 2**53 - 1, -(2**53 - 1), None):
        assert cmd.check_transaction(value) == value


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"mining": false, "transaction": ' + str(HUGE_INT).encode() + b"}", None),
        (b'{"mining": false, "transaction": ' + DEEP.encode() + b"}", None),
        (b'{"mining": false, "transaction": "ok-1"}', "ok-1"),
        (b'{"value": 1, "transaction": 7}', 7),
    ],
)
def test_echoed_transaction_is_always_encodable(payload: bytes, expected: Any) -> None:
    assert cmd.transaction_of(payload) == expected


def test_set_field_json_form() -> None:
    record = _record()
    command = cmd.parse_set_field("power_limit", b'{"value": 3000, "transaction": "n1"}', record)
    assert command.actions == (Action("power_limit", 3000),) and command.transaction == "n1"
    command = cmd.parse_set_field("mining", b'{"value": "OFF"}', record)
    assert command.actions == (Action("mining", False),) and command.transaction is None
    for bad, reason in [
        (b'{"on": true}', "one plain value"),
        (b'{"value": true, "colour": 1}', "colour"),
        (b'{"transaction": "t"}', "value"),
        (b'{"value": [1]}', "one plain value"),
        (b'{"value": true, "transaction": ' + DEEP.encode() + b"}", "transaction"),
    ]:
        with pytest.raises(RequestError, match=reason):
            cmd.parse_set_field("mining", bad, record)


def test_correlation_data_as_transaction() -> None:
    assert cmd.correlation_transaction(b"corr-7") == "corr-7"
    assert cmd.correlation_transaction(None) is None
    assert cmd.correlation_transaction(b"\xff\xfe") is None  # not text: echoed as a property only
    assert cmd.correlation_transaction(b"x" * 200) is None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"target_w": 5000, "emergency": true, "bogus": 1}', "bogus: Extra inputs"),
        (b'{"target_w": 1e30}', "target_w"),
        (b'{"target_w": -5}', "target_w"),
        (b'{"target_w": NaN}', "target_w"),
        (b'{"target_w": Infinity}', "target_w"),
        (b'{"target_w": "5000"}', "target_w"),
        (b'{"target_w": true}', "target_w"),
        (b'{"target_w": ' + str(HUGE_INT).encode() + b"}", "target_w"),
        (b'{"target_w": 5000, "emergency": "yes"}', "emergency"),
        (b"[5000]", "JSON object"),
        (b"5000", "JSON object"),
        (b"not json", "JSON"),
        (DEEP.encode(), "JSON"),
        (b'{"target_w": 5000, "transaction": ' + str(HUGE_INT).encode() + b"}", "transaction"),
        (b'{"target_w": 1}' + b" " * 5000, "too large"),
    ],
)
def test_fleet_requests_are_validated(payload: bytes, reason: str) -> None:
    with pytest.raises(PowerInputError, match=reason):
        parse_set_payload(payload)


def test_fleet_request_valid() -> None:
    request = parse_set_payload(b'{"target_w": 4999.6, "emergency": true, "transaction": "f"}')
    assert (request.target_w, request.emergency, request.transaction) == (5000, True, "f")
    assert parse_set_payload(f'{{"target_w": {MAX_TARGET_W}}}'.encode()).target_w == MAX_TARGET_W
    assert parse_set_payload(b'{"target_w": 0}').emergency is False
    # the held-target contract: null releases, a bare emergency or {} re-plans with no change
    release = parse_set_payload(b'{"target_w": null}')
    assert "target_w" in release.model_fields_set and release.target_w is None
    assert parse_set_payload(b'{"emergency": true}').model_fields_set == {"emergency"}
    assert parse_set_payload(b"{}").model_fields_set == set()


# ============================================================================ over MQTT
def _stopper(rig: Rig) -> str:
    miner_id = rig.with_capability("stop_mining")
    if miner_id is None:
        pytest.skip("no simulated kind can stop mining")
    return miner_id


async def test_a_reused_transaction_id_runs_a_different_command(
    broker: Broker, tmp_path: Path
) -> None:
    async with bridge_rig(broker, tmp_path, [SOLO]) as rig:
        miner_id = _stopper(rig)
        await warm_up(rig, [miner_id])
        sim, watch = rig.sims[miner_id], rig.watches[miner_id]
        first = await rig.command(miner_id, {"mining": False, "transaction": "t1"})
        assert first["status"] == "ok" and not sim.state.hashing, first
        assert first["applied"] == {"mining": False}
        # the README's example id again, for the opposite command: it runs
        second = await rig.command(miner_id, {"mining": True, "transaction": "t1"})
        assert second["status"] == "ok" and "duplicate" not in second, second
        assert second["applied"] == {"mining": True}
        assert sim.state.hashing
        # an identical retry is answered with the first outcome and not run again
        before = watch.controls()
        retry = await rig.command(miner_id, {"mining": True, "transaction": "t1"})
        assert retry == {**second, "duplicate": True}
        assert watch.controls() == before
        # and the first command under that id once more: the id now names the second one
        again = await rig.command(miner_id, {"mining": False, "transaction": "t1"})
        assert again["status"] == "ok" and "duplicate" not in again, again
        assert not sim.state.hashing
        await rig.command(miner_id, {"mining": True})


async def test_remembered_transactions_expire(broker: Broker, tmp_path: Path) -> None:
    async with bridge_rig(broker, tmp_path, [SOLO], mqtt={"transaction_ttl": 1}) as rig:
        miner_id = _stopper(rig)
        await warm_up(rig, [miner_id])
        watch = rig.watches[miner_id]
        command = {"mining": True, "transaction": "e1"}
        assert (await rig.command(miner_id, command))["status"] == "ok"
        ran = watch.controls()
        assert ran
        assert (await rig.command(miner_id, command))["duplicate"] is True
        assert watch.controls() == ran
        await asyncio.sleep(1.5)  # longer than the ttl: the id is forgotten
        late = await rig.command(miner_id, command)
        assert late["status"] == "ok" and "duplicate" not in late, late
        assert watch.controls() != ran  # executed again


async def test_per_field_topics_are_cleared_when_a_key_leaves(
    broker: Broker, tmp_path: Path
) -> None:
    kinds = [SOLO] + ([ANTMINER] if ANTMINER and ANTMINER != SOLO else [])
    async with bridge_rig(broker, tmp_path, kinds, mqtt={"per_field_topics": True}) as rig:
        miner_id = _stopper(rig)
        efficiency = rig.t(miner_id, "efficiency")
        await rig.mqtt.wait_topic(efficiency, lambda m: float(m.text) > 0)
        mark = rig.mqtt.mark()
        assert (await rig.command(miner_id, {"mining": False}))["status"] == "ok"
        # hashrate 0: no efficiency in the state, so its topic is cleared (empty, retained)
        await rig.state(
            miner_id, lambda s: "efficiency" not in s and s.get("mining") is False, mark
        )
        await rig.mqtt.wait_topic(efficiency, lambda m: m.payload == b"", since=mark)
        async with collector(broker, (rig.t(miner_id, "+"),), identifier="late") as late:
            await late.wait_topic(rig.t(miner_id, "hashrate"), lambda m: m.retain)
            await asyncio.sleep(0.3)
            assert not late.on(efficiency), "a stale retained efficiency is still there"
        await rig.command(miner_id, {"mining": True})

        # a field the miner could not read, then could again: <id>/unreadable goes away
        antminer = next((i for i, s in rig.sims.items() if s.kind == ANTMINER), None)
        if antminer is None or antminer == miner_id:
            return
        sim = rig.sims[antminer]
        unreadable = rig.t(antminer, "unreadable")
        await sim.set_mode("hang", servers="http")
        await rig.mqtt.wait_topic(unreadable, lambda m: len(json.loads(m.payload)) > 0, within=10)
        mark = rig.mqtt.mark()
        await sim.set_mode("normal")
        await rig.mqtt.wait_topic(unreadable, lambda m: m.payload == b"", since=mark, within=10)


async def test_per_field_topics_left_by_an_earlier_run_are_cleared(
    broker: Broker, tmp_path: Path
) -> None:
    if ANTMINER is None:
        pytest.skip("no simulated Antminer")
    addr, state_dir = address_block(), tmp_path / "state"
    options: dict[str, Any] = {"addr": addr, "state_dir": state_dir}
    async with bridge_rig(
        broker, tmp_path, [ANTMINER], mqtt={"per_field_topics": True}, **options
    ) as rig:
        (miner_id,) = rig.sims
        unreadable = rig.t(miner_id, "unreadable")
        await rig.sims[miner_id].set_mode("hang", servers="http")
        await rig.mqtt.wait_topic(unreadable, lambda m: len(json.loads(m.payload)) > 0, within=10)
    # that bridge is gone and its unreadable list stays retained; the next one clears it
    async with bridge_rig(
        broker, tmp_path, [ANTMINER], mqtt={"per_field_topics": True}, **options
    ) as rig:
        assert list(rig.sims) == [miner_id]
        await rig.mqtt.wait_topic(unreadable, lambda m: m.payload == b"", within=10)
        # and removing the miner clears every per-field topic it had
        hashrate = rig.t(miner_id, "hashrate")
        mark = rig.mqtt.mark()
        assert (await rig.request("remove", {"id": miner_id}))["status"] == "ok"
        await rig.mqtt.wait_topic(hashrate, lambda m: m.payload == b"", since=mark)


async def test_per_field_set_takes_a_transaction_and_answers_echo_what_was_applied(
    broker: Broker, tmp_path: Path
) -> None:
    async with bridge_rig(broker, tmp_path, [SOLO], v5=broker.supports_v5) as rig:
        miner_id = _stopper(rig)
        sim = rig.sims[miner_id]
        body = await rig.command(miner_id, {"value": False, "transaction": "n1"}, "mining")
        assert (body["status"], body["transaction"]) == ("ok", "n1"), body
        assert body["applied"] == {"mining": False} and not sim.state.hashing
        body = await rig.command(miner_id, "ON", "mining")
        assert body["applied"] == {"mining": True} and body["transaction"] is None
        assert sim.state.hashing
        # refused: nothing applied, the transaction still echoed
        body = await rig.command(miner_id, {"mining": False, "colour": "red", "transaction": "n2"})
        assert (body["status"], body["transaction"], body["applied"]) == ("error", "n2", {})
        body = await rig.command(miner_id, {"value": False, "on": 1, "transaction": "n3"}, "mining")
        assert (body["status"], body["transaction"]) == ("error", "n3") and "on" in body["error"]
        assert sim.state.hashing
        limited = "power_limit" in rig.caps(miner_id)
        if limited:
            record = rig.bridge.slots[miner_id].record
            assert record.power_min is not None and record.power_max is not None
            low, high = sim.state.hardware.power_range
            watts = (max(record.power_min, low) + min(record.power_max, high)) // 2
            body = await rig.command(
                miner_id, {"value": watts, "transaction": 12}, field_name="power_limit"
            )
            assert (body["status"], body["transaction"]) == ("ok", 12), body
            assert (
                body["applied"] == {"power_limit": watts} == {"power_limit": sim.state.power_limit}
            )
        if not broker.supports_v5:
            return
        # MQTT 5: the correlation data is the transaction of a plain value
        mark = rig.mqtt.mark()
        topic = rig.t(miner_id, "set", "mining")
        await rig.mqtt.publish(topic, "OFF", properties=_props("replies/n", b"corr-7"))
        reply = await rig.mqtt.wait_topic("replies/n", since=mark)
        assert reply.properties.CorrelationData == b"corr-7"
        assert reply.json()["transaction"] == "corr-7" and reply.json()["status"] == "ok"
        assert not sim.state.hashing
        await rig.mqtt.publish(topic, "OFF", properties=_props("replies/n", b"corr-7"))
        retry = await rig.mqtt.wait_topic("replies/n", since=reply.index + 1)
        assert retry.json()["duplicate"] is True
        await rig.command(miner_id, {"mining": True})


async def test_unencodable_transactions_and_absurd_fleet_targets_are_answered(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asic_bridge")
    async with bridge_rig(broker, tmp_path, [SOLO]) as rig:
        miner_id = _stopper(rig)
        await warm_up(rig, [miner_id])
        huge, deep = str(HUGE_INT), DEEP
        for payload, field in [
            (f'{{"mining": false, "transaction": {huge}}}', None),
            (f'{{"mining": false, "transaction": {deep}}}', None),
            (f'{{"mining": false, "transaction": "{"x" * 200}"}}', None),
            (f'{{"value": false, "transaction": {huge}}}', "mining"),
        ]:
            body = await rig.command(miner_id, payload, field_name=field)
            assert body["status"] == "error" and "transaction" in body["error"], body
            assert body["transaction"] is None
        for payload in [
            '{"target_w": 1e30}',
            f'{{"target_w": {huge}}}',
            f'{{"target_w": 1000, "transaction": {huge}}}',
            f'{{"target_w": 1000, "transaction": {deep}}}',
            '{"target_w": 5000, "emergency": true, "bogus": 1}',
        ]:
            mark = rig.mqtt.mark()
            await rig.mqtt.publish(rig.t("fleet", "all", "set"), payload)
            reply = await rig.mqtt.wait_topic(rig.t("fleet", "all", "response"), since=mark)
            assert reply.json()["status"] == "error" and reply.json()["transaction"] is None
        body = await rig.request("info", f'{{"transaction": {deep}}}')
        assert body["status"] == "error" and "transaction" in body["error"]
        # the group's state is published from the start; nothing was ever targeted
        states = [m.json() for m in rig.mqtt.on(rig.t("fleet", "all"))]
        assert states and all(
            (s["mode"], s["target_w"], s["remembered"]) == ("off", None, []) for s in states
        ), states
        assert not rig.watches[miner_id].controls()
        assert rig.sims[miner_id].state.hashing
    problems = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not problems, [r.getMessage() for r in problems]


# ============================================================================ fuzz
_FIELDS = ("power_limit", "mining", "fault_light", "mode", "action")
_BAD_TRANSACTIONS: list[Any] = [HUGE_INT, -HUGE_INT, "x" * 300, "", 1.5, True, {"t": 1}, [1]]


class Malformed:
    """Payloads that must all be refused: each is broken in at least one place.

    Written here instead of using hypothesis: a seeded generator, so a failure names its case.
    """

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def word(self) -> str:
        return "zz" + "".join(self.rng.choices("abcdefghij_-.", k=self.rng.randint(1, 12)))

    def junk(self) -> Any:
        """A value no field accepts."""
        choices: list[Any] = [
            HUGE_INT,
            -7,
            10**9,
            1e30,
            float("nan"),
            float("inf"),
            self.word(),
            [1, 2],
            {"a": {"b": 1}},
            None,
            json.loads(DEEP[:80] + DEEP[-80:]),
        ]
        return self.rng.choice(choices)

    def nested(self, depth: int) -> str:
        return "[" * depth + "]" * depth

    def raw(self) -> bytes:
        """Not a JSON object at all."""
        return self.rng.choice(
            [
                bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 40))),
                b'{"mining": fal',
                b"[]",
                b"null",
                b"3000",
                self.nested(self.rng.randint(255, 1500)).encode(),
                b'{"mining": "' + b"a" * 5000 + b'"}',
                b'{"mining": "\xff\xfe"}',
                b"",
            ]
        )

    def dumps(self, body: dict[str, Any]) -> bytes:
        # json.dumps writes NaN/Infinity literals (which the bridge must refuse, not choke on)
        return json.dumps(body).encode()

    def set_payload(self) -> bytes:
        good = {"mining": True, "fault_light": False}
        body: dict[str, Any] = {k: v for k, v in good.items() if self.rng.random() < 0.5}
        defect = self.rng.randrange(5)
        if defect == 0:
            return self.raw()
        if defect == 1:
            body[self.word()] = self.junk()
        elif defect == 2:
            body[self.rng.choice(_FIELDS)] = self.junk()
        elif defect == 3:
            body["mining"] = True
            body["transaction"] = self.rng.choice(_BAD_TRANSACTIONS)
        else:
            body = {"transaction": f"only-{self.rng.randrange(10**6)}"}  # nothing to set
        return self.dumps(body)

    def field_payload(self) -> tuple[str, bytes]:
        field = self.rng.choice(_FIELDS)
        defect = self.rng.randrange(4)
        if defect == 0:
            return self.word(), b"1"  # unknown field
        if defect == 1:
            text = self.rng.choice([self.word(), "-1", "1e30", "nan", "", "[1]", "{}"])
            return field, text.encode()
        if defect == 2:
            body = {"value": True, "transaction": self.rng.choice(_BAD_TRANSACTIONS)}
            return field, self.dumps(body)
        body = {"value": self.junk(), self.word(): 1}
        return field, self.dumps(body)

    def fleet_payload(self) -> bytes:
        body: dict[str, Any] = {"target_w": self.rng.randint(0, 10_000)}
        defect = self.rng.randrange(5)
        if defect == 0:
            return self.raw()
        if defect == 1:
            body[self.word()] = 1
        elif defect == 2:
            # (null is valid: it releases the group)
            body["target_w"] = self.rng.choice([1e30, -1, float("nan"), "5000", True, [1]])
        elif defect == 3:
            body["emergency"] = self.rng.choice(["yes", 1, None, [True]])
        else:
            body["transaction"] = self.rng.choice(_BAD_TRANSACTIONS)
        return self.dumps(body)

    def cases(self, miner_ids: list[str], n: int) -> Iterator[tuple[str, bytes]]:
        for _ in range(n):
            roll = self.rng.random()
            target = self.rng.choice(miner_ids)
            if roll < 0.4:
                yield f"asic_bridge/{target}/set", self.set_payload()
            elif roll < 0.75:
                field, payload = self.field_payload()
                yield f"asic_bridge/{target}/set/{field}", payload
            elif roll < 0.95:
                yield "asic_bridge/fleet/all/set", self.fleet_payload()
            else:
                yield f"asic_bridge/{self.word()}/set", b'{"mining": false}'  # unknown miner


async def test_thousands_of_malformed_commands_are_all_answered(
    mosquitto: MosquittoBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asic_bridge")
    count = 3000
    async with bridge_rig(mosquitto, tmp_path, [SOLO], v5=True) as rig:
        miner_ids = list(rig.sims)
        await warm_up(rig, miner_ids)
        hashing = {i: s.state.hashing for i, s in rig.sims.items()}
        cases = list(Malformed(seed=19).cases(miner_ids, count))
        # A client of its own that hears only its replies: the rig's collector also hears
        # every command and state, and a broker drops what a slow subscriber cannot take.
        async with collector(mosquitto, ("replies/fuzz",), v5=True, identifier="fuzz") as fuzz:

            def answered(since: int) -> dict[bytes, Any]:
                return {r.properties.CorrelationData: r.json() for r in fuzz.messages[since:]}

            async def send(first: int, burst: list[tuple[str, bytes]]) -> None:
                mark = fuzz.mark()
                await asyncio.gather(
                    *(
                        fuzz.publish(topic, payload, properties=_props("replies/fuzz", b"%d" % i))
                        for i, (topic, payload) in enumerate(burst, first)
                    )
                )
                await fuzz.wait_for(
                    lambda _: len(answered(mark)) == len(burst),
                    within=60,
                    since=mark,
                    what=f"answers to cases {first}-{first + len(burst) - 1}",
                )

            # in bursts, as a misbehaving client would, each answered before the next
            for start in range(0, count, 100):
                await send(start, cases[start : start + 100])
            replies = answered(0)
            assert len(fuzz.messages) == count  # one answer each
        wrong = {
            int(key): (cases[int(key)], body)
            for key, body in replies.items()
            if body.get("status") != "error" or not body.get("error")
        }
        assert not wrong, list(wrong.items())[:5]
        for miner_id, watch in rig.watches.items():
            assert not watch.controls(), (miner_id, watch.controls())
        assert hashing == {i: s.state.hashing for i, s in rig.sims.items()}
        states = [m.json() for m in rig.mqtt.on(rig.t("fleet", "all"))]
        assert states and all(
            (s["mode"], s["target_w"], s["remembered"]) == ("off", None, []) for s in states
        ), states
    problems = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not problems, [r.getMessage()[:200] for r in problems[:5]]
    refusals = [r for r in caplog.records if r.getMessage().startswith("refused")]
    assert len(refusals) == count  # one line each
