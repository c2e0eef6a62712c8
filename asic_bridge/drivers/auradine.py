"""Auradine Teraflux (AT1500, AT2860, AT2880, AI/AD series) on FluxOS.

Two APIs, as on the real box:

* the GCMiner RPC on 4028 (CGMiner framing; ``version`` names GCMiner/FluxOS, ``devdetails``
  carries ``Model``) for hashing: one batched ``summary+devs+pools`` request per reading;
* the FluxOS REST API on **8080**: ``POST /token`` with ``{"command": "token", "user",
  "password"}`` answers ``{"Token": [{"Token": ...}]}``; then ``GET /<cmd>`` or
  ``POST /<cmd>`` with ``{"command": <cmd>, ...}`` and the header ``Token: <token>``.  Answers
  carry a CGMiner-style ``STATUS`` list (``S``/``I`` = done, ``E`` = refused) and one section
  named after the command (``Fan``, ``Mode``, ``PSU``, ``LED``, ``IPReport``).

Field sources:

========================  ==============================================================
hashrate / uptime         ``summary`` ``MHS 5s`` (MH/s) / ``Elapsed``
hashboards                ``devs``: one entry per board, ``ID`` from 1, ``MHS 5s``,
                          ``Temperature``
pools                     ``pools`` (CGMiner format)
wattage                   ``psu`` ``PowerIn`` ("3512W")
wattage_limit             ``mode`` ``Power`` (the custom power target)
fans                      ``fan`` ``Speed`` (RPM) per fan
fault_light / errors      ``led`` ``Code`` (3 = locate; 4-8 = the fault the LED shows)
is_mining                 ``mode`` ``Sleep`` == "off"
mac / hostname / fw_ver   ``ipreport`` ``mac`` / ``hostname`` / ``version`` (learned once)
========================  ==============================================================

Controls: fault light (``led`` code 3 = locate miner, 2 = back to normal); reboot
(``POST /restart`` without a parameter); restart_backend (``restart`` with ``parameter:
gcminer``); stop/resume (``mode`` ``sleep: on|off``); power limit (``mode`` with ``mode:
custom, tune: power, power: W``); mining modes (``mode`` ``normal``/``eco``/``turbo``, and
sleep); config (``updatepools``, ``fan`` ``percentage``, ``mode``), each part written only
when it changes.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from asic_bridge import catalog
from asic_bridge.credentials import Credentials
from asic_bridge.data import Fan, HashBoard, MinerErrorData, board_from, to_default
from asic_bridge.drivers import Evidence, Family
from asic_bridge.drivers.base import (
    BaseMiner,
    Capability,
    FieldSpec,
    Identity,
    ParseContext,
    normalize_mac,
)
from asic_bridge.drivers.cgminer import (
    CGMinerRPCMiner,
    entries,
    first_entry,
    parse_api_ver,
    parse_pools,
    parse_pools_config,
    parse_uptime,
    validate_pool_field,
)
from asic_bridge.drivers.values import number, percent, whole
from asic_bridge.drivers.values import text as _text
from asic_bridge.errors import (
    AuthenticationError,
    CommandError,
    ConfigError,
    InvalidResponseError,
    NotAppliedError,
    UnsupportedError,
)
from asic_bridge.transport.http import HTTPClient, HTTPResult, TokenAuth
from asic_bridge.transport.rpc import json_object

if TYPE_CHECKING:
    from asic_bridge.config import (
        FanModeManual,
        FanModeNormal,
        MinerConfig,
        Pool,
    )

__all__ = ["FAMILIES", "AuradineMiner", "parse_hashboards", "parse_mode"]

MAKE = "Auradine"
WEB_PORT = 8080
WEB_USER = "admin"

LED_NORMAL = 2
LED_LOCATE = 3
LED_FAULTS: dict[int, str] = {
    1: "no power",
    4: "temperature fault",
    5: "pool configuration fault",
    6: "network fault",
    7: "control board fault",
    8: "hashrate low",
}
MODE_NAMES: dict[str, str] = {"normal": "normal", "low": "eco", "high": "turbo"}
"""Our mining mode -> the FluxOS mode name."""

_WATTS = re.compile(r"-?\d+(?:\.\d+)?")


def section(payload: object, name: str) -> dict[str, Any]:
    """``payload[name][0]``, or ValueError naming what is missing."""
    entry = first_entry(payload, name)
    if entry is None:
        raise ValueError(f"answer has no {name} section")
    return entry


def _watts(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        m = _WATTS.search(value)
        return float(m.group()) if m else None
    return None


# ---------------------------------------------------------------------------------------------
# Pure parsers.


def parse_hashrate(ctx: ParseContext, summary: object) -> float | None:
    entry = section(summary, "SUMMARY")
    for key in ("MHS 5s", "MHS 1m", "MHS av"):
        value = number(entry.get(key))
        if value is not None:
            return to_default(max(value, 0.0), "MH/s", ctx.algo)
    return None


def parse_hashboards(ctx: ParseContext, devs: object) -> list[HashBoard]:
    if not isinstance(devs, Mapping):
        raise ValueError("devs answer is not an object")
    info = ctx.model_info
    per_board = info.chips_per_board if info else None
    boards: dict[int, HashBoard] = {}
    for row in entries(devs, "DEVS"):
        board_id = whole(row.get("ID"))
        if board_id is None or not 1 <= board_id <= 64:
            continue
        rate = number(row.get("MHS 5s"))
        temp = number(row.get("Temperature"))
        alive = row.get("Status", "Alive") == "Alive"
        boards[board_id - 1] = board_from(
            {
                "slot": board_id - 1,
                "hashrate": to_default(max(rate, 0.0), "MH/s", ctx.algo)
                if rate is not None
                else None,
                "temp": temp if temp and temp > -100 else None,
                "expected_chips": per_board,
                "missing": False,
                "active": alive and bool(rate),
            }
        )
    for slot in range(info.hashboards if info and info.hashboards else 0):
        boards.setdefault(
            slot, board_from({"slot": slot, "expected_chips": per_board, "missing": True})
        )
    return [boards[slot] for slot in sorted(boards)]


def parse_wattage(ctx: ParseContext, psu: object) -> int | None:
    value = _watts(section(psu, "PSU").get("PowerIn"))
    return round(value) if value is not None and value >= 0 else None


def parse_wattage_limit(ctx: ParseContext, mode: object) -> int | None:
    value = _watts(section(mode, "Mode").get("Power"))
    return round(value) if value else None


def parse_fans(ctx: ParseContext, fan: object) -> list[Fan] | None:
    if not isinstance(fan, Mapping):
        raise ValueError("fan answer is not an object")
    rows = entries(fan, "Fan")
    return [Fan(speed=whole(row.get("Speed"))) for row in rows] or None


def parse_fault_light(ctx: ParseContext, led: object) -> bool | None:
    code = whole(section(led, "LED").get("Code"))
    return None if code is None else code == LED_LOCATE


def parse_errors(ctx: ParseContext, led: object) -> list[MinerErrorData]:
    code = whole(section(led, "LED").get("Code"))
    if code in LED_FAULTS:
        return [MinerErrorData(error_code=code, error_message=LED_FAULTS[code])]
    return []


def parse_is_mining(ctx: ParseContext, mode: object) -> bool | None:
    sleep = section(mode, "Mode").get("Sleep")
    return None if sleep not in ("on", "off") else sleep == "off"


def _report(ipreport: object) -> dict[str, Any]:
    return section(ipreport, "IPReport")


def parse_mac(ctx: ParseContext, ipreport: object) -> str | None:
    return normalize_mac(_report(ipreport).get("mac"))


def parse_hostname(ctx: ParseContext, ipreport: object) -> str | None:
    return _text(_report(ipreport).get("hostname"))


def parse_fw_ver(ctx: ParseContext, ipreport: object) -> str | None:
    return _text(_report(ipreport).get("version"))


def parse_mode(mode: object) -> Any:
    """``mode`` -> a MinerConfig mining mode (None when the firmware says nothing usable)."""
    from asic_bridge.config import (
        MiningModeHigh,
        MiningModeLow,
        MiningModeNormal,
        MiningModePowerTune,
        MiningModeSleep,
    )

    entry = section(mode, "Mode")
    if entry.get("Sleep") == "on":
        return MiningModeSleep()
    name = entry.get("Mode")
    if name == "normal":
        return MiningModeNormal()
    if name == "eco":
        return MiningModeLow()
    if name == "turbo":
        return MiningModeHigh()
    if name == "custom":
        power = _watts(entry.get("Power"))
        if power:
            return MiningModePowerTune(power=round(power))
    return None


def parse_fan_mode(fan: object) -> FanModeNormal | FanModeManual | None:
    from asic_bridge.config import FanModeManual, FanModeNormal

    name, speed = _fan_setting(fan)
    if name == "normal":
        return FanModeNormal()
    return FanModeManual(speed=speed) if name == "manual" else None


def _fan_setting(fan: object) -> tuple[str | None, int]:
    """The fan mode's name and its manual speed (0-100): pure, so reading the mode (every
    get_data) builds no config model."""
    rows = entries(fan, "Fan")
    if not rows:
        return None, 0
    target, top = number(rows[0].get("Target")), number(rows[0].get("Max"))
    if target is None or not top:
        return "normal", 0
    return "manual", max(0, min(100, round(target / top * 100)))


def parse_fan_mode_name(ctx: ParseContext, fan: object) -> str | None:
    return _fan_setting(fan)[0]


def parse_fan_percent(ctx: ParseContext, fan: object) -> int | None:
    """The commanded speed: ``Target`` of the fan's own ``Max`` RPM, in %; None without a
    target (the RPM alone is no duty)."""
    rows = entries(fan, "Fan")
    if not rows:
        return None
    target, top = number(rows[0].get("Target")), number(rows[0].get("Max"))
    return percent(target / top * 100) if target is not None and top else None


def parse_config(ctx: ParseContext, pools: object, mode: object, fan: object) -> MinerConfig:
    from asic_bridge.config import MinerConfig

    return MinerConfig(
        pools=parse_pools_config(pools), mining_mode=parse_mode(mode), fan_mode=parse_fan_mode(fan)
    )


def status_ok(answer: object) -> bool:
    """A FluxOS answer whose STATUS is S or I."""
    entry = first_entry(answer, "STATUS")
    return entry is not None and entry.get("STATUS") in ("S", "I")


def token_refused(result: HTTPResult) -> bool:
    """A rejected token: 401, or STATUS E whose message is about the token."""
    if result.status == 401:
        return True
    if b"oken" not in result.body:
        return False
    try:
        answer = result.json()
    except InvalidResponseError:
        return False
    entry = first_entry(answer, "STATUS") or {}
    return entry.get("STATUS") == "E" and "token" in str(entry.get("Msg", "")).lower()


# ---------------------------------------------------------------------------------------------
# The driver.


class AuradineMiner(CGMinerRPCMiner):
    """An Auradine Teraflux on FluxOS."""

    make = MAKE
    firmware = "Stock"  # FluxOS is the stock firmware; pyasic names it Stock too
    default_capabilities = frozenset(
        {
            Capability.FAULT_LIGHT,
            Capability.REBOOT,
            Capability.RESTART_BACKEND,
            Capability.STOP_MINING,
            Capability.POWER_LIMIT,
            Capability.MINING_MODES,
            Capability.GET_CONFIG,
            Capability.SEND_CONFIG,
            Capability.FAN_CONTROL,
        }
    )
    supported_modes = ("normal", "low", "high", "sleep")
    supported_fan_modes = ("normal", "manual")  # fan percentage N, or 0 for automatic
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "mac": FieldSpec(("web:ipreport",), parse_mac, static=True),
        "hostname": FieldSpec(("web:ipreport",), parse_hostname, static=True),
        "fw_ver": FieldSpec(("web:ipreport",), parse_fw_ver, static=True),
        "api_ver": FieldSpec(("rpc:version",), parse_api_ver, static=True),
        "hashrate": FieldSpec(("rpc:summary",), parse_hashrate),
        "hashboards": FieldSpec(("rpc:devs",), parse_hashboards),
        "uptime": FieldSpec(("rpc:summary",), parse_uptime),
        "pools": FieldSpec(("rpc:pools",), parse_pools),
        "wattage": FieldSpec(("web:psu",), parse_wattage),
        "wattage_limit": FieldSpec(("web:mode",), parse_wattage_limit),
        "fans": FieldSpec(("web:fan",), parse_fans),
        "fan_mode": FieldSpec(("web:fan",), parse_fan_mode_name),
        "fan_percent": FieldSpec(("web:fan",), parse_fan_percent),
        "fault_light": FieldSpec(("web:led",), parse_fault_light),
        "errors": FieldSpec(("web:led",), parse_errors),
        "is_mining": FieldSpec(("web:mode",), parse_is_mining),
        "config": FieldSpec(("rpc:pools", "web:mode", "web:fan"), parse_config),
    }

    @property
    def web(self) -> HTTPClient:
        port = self.port("web", WEB_PORT)
        return self._client_for("web", port, lambda: HTTPClient(self.ip, port, auth=self._auth()))

    def _auth(self) -> TokenAuth:
        return TokenAuth(self._login, header="Token", template="{token}", is_expired=token_refused)

    async def _login(self) -> str:
        body = {
            "command": "token",
            "user": self.credentials.username_or(WEB_USER),
            "password": self.credentials.password_or("default_auradine_password"),
        }
        result = await self.web.post("/token", json=body, use_auth=False)
        try:
            answer = result.json()
        except InvalidResponseError:
            answer = None
        token = (first_entry(answer, "Token") or {}).get("Token")
        if not status_ok(answer) or not isinstance(token, str) or not token:
            raise AuthenticationError(
                "FluxOS refused the login (wrong password?)", ip=self.ip, command="/token"
            )
        return token

    async def web_command(
        self, command: str, *, post: bool = False, **params: Any
    ) -> dict[str, Any]:
        """``GET /<command>``, or ``POST`` it (with ``params``); STATUS E raises CommandError."""
        path = f"/{command}"
        if params or post:
            result = await self.web.post(path, json={"command": command, **params})
        else:
            result = await self.web.get(path)
        if result.status != 200:
            raise CommandError(f"HTTP {result.status}", ip=self.ip, command=path)
        answer = json_object(result.json(), ip=self.ip, command=path)
        if not status_ok(answer):
            entry = first_entry(answer, "STATUS") or {}
            raise CommandError(str(entry.get("Msg") or "refused")[:200], ip=self.ip, command=path)
        return answer

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group != "web":
            return await super()._fetch_group(group, names)
        return await self._fetch_each(names, self.web_command)

    # -------------------------------------------------------------- controls
    async def _set_fault_light(self, on: bool) -> bool:
        await self.web_command("led", code=LED_LOCATE if on else LED_NORMAL)
        return True

    async def _reboot(self) -> bool:
        await self.web_command("restart", post=True)  # no parameter: the whole box
        return True

    async def _restart_backend(self) -> bool:
        await self.web_command("restart", parameter="gcminer")
        return True

    async def _set_mining(self, on: bool) -> bool:
        await self.web_command("mode", sleep="off" if on else "on")
        return True

    async def _set_power_limit(self, wattage: int) -> bool:
        """Custom power tuning, read back from ``mode`` (FluxOS reports no bounds, so the
        miner judges the value; a refusal is its STATUS E message)."""
        await self.web_command("mode", mode="custom", tune="power", power=wattage)
        applied = parse_wattage_limit(self._ctx(), await self.web_command("mode"))
        if applied != wattage:
            raise NotAppliedError(
                f"asked for {wattage} W, the miner's mode says {applied} W",
                wanted=wattage,
                applied=applied,
                ip=self.ip,
                command="/mode",
            )
        return True

    async def _get_config(self) -> MinerConfig:
        pools, mode, fan = await asyncio.gather(
            self._command("pools"), self.web_command("mode"), self.web_command("fan")
        )
        return parse_config(self._ctx(), pools, mode, fan)

    def _ctx(self) -> ParseContext:
        return ParseContext(self.algo, self.model_info, self.identity)

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        from asic_bridge.config import (
            FanModeManual,
            FanModeNormal,
            MiningModeHigh,
            MiningModeLow,
            MiningModeNormal,
            MiningModePowerTune,
            MiningModeSleep,
        )

        if config.temperature != live.temperature:
            raise UnsupportedError("temperature limits", "FluxOS")
        mode = config.mining_mode
        mode_changed = mode is not None and mode != live.mining_mode
        if mode_changed and not isinstance(
            mode,
            MiningModeNormal
            | MiningModeLow
            | MiningModeHigh
            | MiningModeSleep
            | MiningModePowerTune,
        ):
            raise UnsupportedError(f"mining mode {mode.mode!r}", "FluxOS")  # type: ignore[union-attr]
        if isinstance(mode, MiningModePowerTune) and mode_changed and not mode.power:
            raise ConfigError("a power_tuning mode needs a power in watts")
        fan = config.fan_mode
        manual_or_auto = isinstance(fan, FanModeManual | FanModeNormal)
        if fan is not None and fan != live.fan_mode and not manual_or_auto:
            raise UnsupportedError("immersion fan mode", "FluxOS")
        if isinstance(fan, FanModeManual) and fan.speed < 1:
            raise ConfigError("a manual fan speed on FluxOS is 1-100 % (0 means automatic)")
        if config.pools is not None and config.pools != live.pools:
            await self._write_pools([p for g in config.pools.groups for p in g.pools])
        if fan is not None and fan != live.fan_mode:
            percent = fan.speed if isinstance(fan, FanModeManual) else 0  # 0 = automatic
            await self.web_command("fan", percentage=percent)
        if mode_changed and mode is not None:
            if isinstance(mode, MiningModeSleep):
                await self._set_mining(False)
                return
            if isinstance(mode, MiningModePowerTune):
                assert mode.power is not None
                await self._set_power_limit(mode.power)
            else:
                await self.web_command("mode", mode=MODE_NAMES[mode.mode])
            if isinstance(live.mining_mode, MiningModeSleep):
                await self._set_mining(True)

    async def _write_pools(self, wanted: list[Pool]) -> None:
        if not wanted:
            raise ConfigError("at least one pool is needed")
        for pool in wanted:
            validate_pool_field("url", pool.url)
            validate_pool_field("user", pool.user)
        pools = [{"url": p.url, "user": p.user, "pass": p.password} for p in wanted]
        await self.web_command("updatepools", pools=pools)


# ---------------------------------------------------------------------------------------------
# Identification.


def _matches(e: Evidence) -> bool:
    text = e.rpc_text
    return "GCMINER" in text or "FLUXOS" in text


async def _build(e: Evidence, creds: Credentials) -> BaseMiner | None:
    version = first_entry(e.rpc_version, "VERSION") or {}
    details = first_entry(e.rpc_devdetails, "DEVDETAILS") or {}
    raw = _text(details.get("Model"))
    info = catalog.lookup(raw, make=MAKE) if raw else None
    if info is not None and info.make != MAKE:
        info = None
    identity = Identity(
        ip=e.ip,
        make=MAKE,
        firmware="Stock",
        model=info.model if info else raw,
        raw_model=raw,
        algo=info.algo if info else "SHA256",
        model_info=info,
        api_ver=str(version["API"]) if version.get("API") else None,
    )
    return AuradineMiner(e.ip, identity=identity, credentials=creds, ports=e.ports)


FAMILIES = [Family("auradine", _matches, _build)]
