"""Issue #19 item 1: configured passwords reach the miners, from identification on.

Per family: a simulated miner whose password is not the factory default is identified by
its MAC and controlled when the credentials are known (per host, make or firmware), and a
wrong password is refused with a clear error naming the rejection (never the password).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from bridge_support import address_block

from asic_bridge import factory, settings
from asic_bridge.bridge.config import parse_config
from asic_bridge.config import MinerConfig, Pool, PoolConfig
from asic_bridge.credentials import Credentials, CredentialTable
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.errors import APIError, ConfigError
from asic_bridge.sim import SimMiner, list_kinds, load_kinds

GOOD = "n0t-The-Default"
WRONG = "wr0ng-Guess"
# Attributes holding a simulator's login password (their names differ per family).
PASSWORD_ATTRS = ("web_password", "password", "v3_password")
# Kinds whose firmware has no login on the interfaces the driver uses: nothing to configure.
NO_LOGIN = {"cgminer", "bitaxe_gamma", "bitaxe_supra", "luckyminer_lv08", "luxos_s19jpro"}
KINDS = sorted({k.split(":")[0] for k, *_ in list_kinds()} - NO_LOGIN)
_addresses = itertools.count(1)


@pytest.fixture(autouse=True)
def _short_timeouts() -> Any:
    settings.update("api_function_timeout", 2.0)
    settings.update("factory_get_timeout", 2.0)
    factory.cache.clear()
    yield
    factory.cache.clear()


Start = Callable[[str], Awaitable[SimMiner]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    addr = address_block()
    started: list[SimMiner] = []

    async def _start(kind: str) -> SimMiner:
        sim = load_kinds()[kind](addr(next(_addresses) % 250 + 1))
        changed = [a for a in PASSWORD_ATTRS if isinstance(getattr(sim, a, None), str)]
        assert changed, f"{kind}: no password attribute on the simulator"
        for attr in changed:
            setattr(sim, attr, GOOD)
        await sim.start()
        started.append(sim)
        return sim

    yield _start
    for sim in started:
        await sim.stop()


async def _control(miner: BaseMiner) -> None:
    """A call that needs the login: the first control the miner supports (a fault light is
    read back too).  Avalon's controls go over its login-free RPC, so there it is a pool
    write (which carries the web password); a miner with no control reads its MAC."""
    if miner.make == "AvalonMiner":
        pool = Pool(url="stratum+tcp://pool.example:3333", user="acct.1", password="x")
        await miner.send_config(MinerConfig(pools=PoolConfig.simple([pool])))
    elif miner.supports(Capability.FAULT_LIGHT):
        await miner.fault_light_on()
        if "fault_light" in miner.FIELDS:
            assert await miner.check_light() is True
    elif miner.supports(Capability.POWER_LIMIT):
        low, high = miner.power_limit_range()
        await miner.set_power_limit((low + high) // 2)
    elif miner.supports(Capability.STOP_MINING):
        await miner.stop_mining()
    elif miner.supports(Capability.RESTART_BACKEND):
        await miner.restart_backend()
    else:
        await miner._get_field("mac")


def _by_make_or_firmware(sim: SimMiner) -> dict[str, dict[str, str]]:
    """A credentials table as bridge.yaml would hold it: keyed by firmware unless stock."""
    key = sim.make if sim.firmware == "Stock" else sim.firmware
    return {key: {"password": GOOD}}


@pytest.mark.parametrize("kind", KINDS)
async def test_configured_password_identifies_by_mac_and_controls(start: Start, kind: str) -> None:
    sim = await start(kind)
    table = parse_config({"credentials": _by_make_or_firmware(sim)}).credential_table()
    miner = await factory.get_miner(sim.address, credentials=table, ports=sim.ports)
    assert miner is not None
    try:
        assert await miner.get_mac() == sim.state.mac.lower()  # what adoption keys on
        assert miner.credentials.password == GOOD
        await _control(miner)
    finally:
        await miner.aclose()


@pytest.mark.parametrize("kind", KINDS)
async def test_host_password_identifies_by_mac_and_controls(start: Start, kind: str) -> None:
    sim = await start(kind)
    config = parse_config(
        {
            "miners": {"hosts": [{"ip": sim.address, "ports": sim.ports, "password": GOOD}]},
            # a less specific entry with another password must lose to the host's
            "credentials": {k: {"password": WRONG} for k in _by_make_or_firmware(sim)},
        }
    )
    miner = await factory.get_miner(
        sim.address, credentials=config.credential_table(), ports=sim.ports
    )
    assert miner is not None
    try:
        assert await miner.get_mac() == sim.state.mac.lower()  # what adoption keys on
        await _control(miner)
    finally:
        await miner.aclose()


@pytest.mark.parametrize("kind", KINDS)
async def test_wrong_password_is_refused_clearly(start: Start, kind: str) -> None:
    sim = await start(kind)
    miner = await factory.get_miner(
        sim.address, credentials=Credentials(password=WRONG), ports=sim.ports
    )
    assert miner is not None, "the miner must still be found (its RPC/probe answers)"
    try:
        with pytest.raises(APIError) as caught:
            await _control(miner)
        message = str(caught.value).lower()
        assert WRONG.lower() not in message
        clear = ("password", "credential", "401", "refused", "rejected")
        assert any(word in message for word in clear), message
    finally:
        await miner.aclose()


async def test_cached_miner_with_other_credentials_is_identified_again(start: Start) -> None:
    sim = await start("antminer_s19jpro")
    first = await factory.get_miner(sim.address, ports=sim.ports)
    assert first is not None and first.identity.mac is None  # default password: no MAC
    second = await factory.get_miner(
        sim.address, credentials=Credentials(password=GOOD), ports=sim.ports
    )
    assert second is not None and second is not first
    assert second.identity.mac == sim.state.mac.lower()
    for miner in (first, second):
        await miner.aclose()


def test_precedence_host_then_firmware_then_make_field_by_field() -> None:
    table = CredentialTable(
        hosts={"10.0.0.5": Credentials(password="host")},
        names={
            "bos": Credentials(password="firmware"),
            "antminer": Credentials(username="maker", password="make", ssh_password="ssh"),
        },
    )
    on_host = table.resolve("10.0.0.5", make="AntMiner", firmware="BOS+")
    assert (on_host.password, on_host.username, on_host.ssh_password) == ("host", "maker", "ssh")
    other = table.resolve("10.0.0.6", make="AntMiner", firmware="BOS+")
    assert other.password == "firmware"
    stock = table.resolve("10.0.0.6", make="AntMiner", firmware="Stock")
    assert stock.password == "make"
    nothing = table.resolve("10.0.0.6", make="WhatsMiner", firmware="Stock")
    assert nothing == Credentials()  # the settings default applies
    by_family = CredentialTable(names={"braiins": Credentials(password="fam")})
    assert by_family.resolve("1.2.3.4", make="AntMiner", firmware="BOS+", family="braiins") == (
        Credentials(password="fam")
    )


def test_unknown_credentials_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"credentials: .*unknown make or firmware whatsminr"):
        parse_config({"credentials": {"whatsminr": {"password": "pw"}}})
    config = parse_config({"credentials": {"WhatsMiner": {"password": "pw"}, "BOS+": {}}})
    assert set(config.credential_table().names) == {"whatsminer", "bos"}
