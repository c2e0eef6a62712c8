"""Pools through the commands feature on a real simulated Antminer (stock web API): the list
written read-modify-write, confirmed by read-back, workers from the template, the password
written to the miner and never in anything published; a bad list changes nothing."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from bridge_fakes import RecordingPublisher, adopted_sim, device, request

from asic_bridge.bridge import commands as cmd
from asic_bridge.bridge import pools as pool_lists
from asic_bridge.bridge.features.commands import Commands
from asic_bridge.bridge.features.pools import set_group_pools
from asic_bridge.bridge.poller import Pollers
from asic_bridge.bridge.state import state_payload
from asic_bridge.bridge.topics import Topics
from asic_bridge.data import MinerData, PoolMetrics

T = Topics("base")
SECRET = "s3cret-pass-word"


async def test_pools_written_with_the_worker_template_and_no_password_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with adopted_sim(tmp_path, "antminer_s19jpro") as (adoption, bus, dev, sim):
        pub = RecordingPublisher()
        commands = Commands(bus, pub, T, adoption, Pollers(bus, adoption.connect, 60, 3, 4), 300)
        mode_before = sim.state.mode if hasattr(sim.state, "mode") else None
        payload = {
            "pools": [
                {
                    "url": "stratum+tcp://pool.example:3333",
                    "user": "acct.{mac}",
                    "password": SECRET,
                },
                {"url": "stratum+tcp://backup.example:3333", "user": "acct.{id}"},
            ],
            "transaction": "p1",
        }
        await commands.handle(request("set", json.dumps(payload).encode(), target=dev.id))
        answer = pub.last(f"base/{dev.id}/response").json()
        assert answer["status"] == "ok", answer
        worker = "acct." + (dev.record.mac or "").replace(":", "").lower()
        assert answer["applied"]["pools"] == [
            {"url": "stratum+tcp://pool.example:3333", "user": worker},
            {"url": "stratum+tcp://backup.example:3333", "user": f"acct.{dev.id}"},
        ]
        written = [(p.url, p.user, p.password) for p in sim.state.pools]
        assert written[:2] == [
            ("stratum+tcp://pool.example:3333", worker, SECRET),
            ("stratum+tcp://backup.example:3333", f"acct.{dev.id}", "x"),
        ]
        if mode_before is not None:
            assert sim.state.mode == mode_before  # the rest of the config kept
        # the poll after it shows every pool, and the password nowhere
        miner = await adoption.connect(dev)
        assert miner is not None
        data = await miner.get_data()
        state = state_payload(data, energy_kwh=0, boot_time=None, mode=None, now=0)
        assert [p["url"] for p in state["pools"]][:2] == [w[0] for w in written[:2]]
        assert all(SECRET not in m.text for m in pub.messages)
        assert SECRET not in json.dumps(state)
        assert SECRET not in caplog.text  # not even at debug level


@pytest.mark.parametrize(
    ("pools", "error"),
    [
        ([{"user": "acct"}], "url is missing"),
        ([{"url": "stratum+tcp://a:1", "worker": "w"}], "unknown field(s) worker"),
        ([{"url": "stratum+tcp://a:1"}] * 4, "3 pool slots"),
        ([{"url": "stratum+tcp://a:1", "user": "a.{serial}"}], "unknown placeholder {serial}"),
        ([], "non-empty list"),
    ],
)
async def test_a_bad_pool_list_is_refused_and_nothing_changes(
    tmp_path: Path, pools: list[dict[str, str]], error: str
) -> None:
    async with adopted_sim(tmp_path, "antminer_s19jpro") as (adoption, bus, dev, sim):
        pub = RecordingPublisher()
        commands = Commands(bus, pub, T, adoption, Pollers(bus, adoption.connect, 60, 3, 4), 300)
        before = [(p.url, p.user, p.password) for p in sim.state.pools]
        body = json.dumps({"pools": [dict(p, password=SECRET) for p in pools]}).encode()
        await commands.handle(request("set", body, target=dev.id))
        answer = pub.last(f"base/{dev.id}/response").json()
        assert answer["status"] == "error" and error in answer["error"], answer
        assert [(p.url, p.user, p.password) for p in sim.state.pools] == before
        assert all(SECRET not in m.text for m in pub.messages)


def test_templates_give_each_miner_its_worker_and_repr_hides_the_password() -> None:
    pools = pool_lists.parse_pools(
        [{"url": "stratum+tcp://p:3333", "user": "a.{hostname}-{ip}", "password": SECRET}]
    )
    rec = device("rack1", hostname="rack1-07", ip="10.0.0.7").record
    (mine,) = pool_lists.for_miner(pools, rec)
    assert mine.user == "a.rack1-07-10-0-0-7" and mine.password == SECRET
    assert SECRET not in repr(mine) and SECRET not in repr(pools)
    with pytest.raises(cmd.RequestError, match="not supported"):
        cmd.check_field("pools", [{"url": "stratum+tcp://p:1"}], rec)  # no SEND_CONFIG


def test_the_state_lists_every_pool_in_order() -> None:
    data = MinerData(
        ip="10.0.0.1",
        pools=[
            PoolMetrics(
                url="stratum+tcp://a:1",
                user="u.1",
                index=0,
                accepted=5,
                alive=True,
                active=True,
                get_failures=1,
            ),
            PoolMetrics(url="stratum+tcp://b:1", user="u.1", index=1, alive=False, active=False),
        ],
    )
    state = state_payload(data, energy_kwh=0, boot_time=None, mode=None, now=0)
    assert state["pool_url"] == "stratum+tcp://a:1"  # the primary sensor as before
    assert state["pools"] == [
        {
            "url": "stratum+tcp://a:1",
            "user": "u.1",
            "priority": 0,
            "active": True,
            "status": "alive",
            "accepted": 5,
            "stale": 1,
        },
        {
            "url": "stratum+tcp://b:1",
            "user": "u.1",
            "priority": 1,
            "active": False,
            "status": "dead",
        },
    ]


async def test_a_group_pool_list_is_answered_per_miner(tmp_path: Path) -> None:
    async with adopted_sim(tmp_path, "antminer_s19jpro") as (adoption, bus, dev, sim):
        commands = Commands(
            bus, RecordingPublisher(), T, adoption, Pollers(bus, adoption.connect, 60, 3, 4), 300
        )
        body = {"pools": [{"url": "stratum+tcp://g:3333", "user": "farm.{id}", "password": SECRET}]}
        out = await set_group_pools(commands, [dev], json.dumps(body).encode())
        assert out["failed"] == {} and out["miners"][dev.id]["status"] == "ok"
        assert out["miners"][dev.id]["applied"]["pools"][0]["user"] == f"farm.{dev.id}"
        assert SECRET not in json.dumps(out)
        assert sim.state.pools[0].user == f"farm.{dev.id}"
        with pytest.raises(cmd.RequestError, match="on their own"):
            mixed = {**body, "target_w": 3000}
            await set_group_pools(commands, [dev], json.dumps(mixed).encode())
