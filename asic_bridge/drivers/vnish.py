"""VNish (Anthill's aftermarket firmware, web UI "AnthillOS") on Antminer hardware.

Two APIs, both used:

* the stock BMMiner RPC on 4028 for the hashing figures (one batched
  ``summary+stats+pools+devs``): hashrate, expected hashrate, boards, fans, uptime, pools -
  the generic CGMiner parsers read them;
* the REST API on 80 under ``/api/v1`` for what the RPC lacks: ``summary`` (power, state,
  miner and chain failures, firmware version in ``miner_type`` "... (Vnish 1.2.6)"),
  ``info`` (MAC, hostname: real 1.2.x summaries have no ``system`` section), ``settings``
  (active preset = the power limit, pools, cooling), ``autotune/presets``.  The web
  requests of one reading run concurrently on one kept-alive client.

Meanings by version (real captures, tests/fixtures/real/vnish): the watts are
``power_consumption``; ``power_usage`` was the same watts up to 1.2.0 and is the efficiency
(J/TH) from 1.2.6 on, so it is read only where ``power_consumption`` is absent.

Auth: ``POST /unlock {"pw": <password>}`` -> ``token``, cached; it goes raw in
``Authorization`` (``Bearer`` for ``system/*``, as the firmware wants).  A 401 re-unlocks
once.  A wrong password is an AuthenticationError that never contains the password.

Controls: fault light = ``find-miner`` (a toggle: the answer's ``on`` is checked and the
toggle repeated when it landed on the wrong side); stop/resume = ``mining/stop`` /
``mining/start``; restart_backend = ``mining/restart``; reboot = ``system/reboot``.
Power: VNish tunes to *presets* named by their wattage; set_power_limit chooses the highest
preset at or below the limit (preset hashrates may be "104 TH" or "11500 M" strings,
pyasic#296) and writes ``settings.miner.overclock.preset``, then reads it back.  Modes are
the presets (``preset`` mode), ``normal`` = presets disabled (stock clocks), ``sleep`` =
stopped; the presets' lowest and highest watts are the power range.  Presets
(Capability.PRESETS): the whole ``autotune/presets`` list, its ``disabled`` entry (stock
clocks) included, so the active ``overclock.preset`` is always one of them.  Config:
read-modify-write of the whole ``settings`` document - every key we do not manage is sent
back as it was.  No throttle control is offered (not in the public API).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from asic_bridge import catalog
from asic_bridge.catalog import ModelInfo
from asic_bridge.credentials import Credentials
from asic_bridge.data import MinerErrorData, to_default
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
    first_entry,
    parse_api_ver,
    parse_cgminer_expected_hashrate,
    parse_cgminer_fans,
    parse_cgminer_hashboards,
    parse_pools,
    parse_summary_hashrate,
    parse_uptime,
)
from asic_bridge.drivers.firmware import (
    UPLOAD_TIMEOUT,
    FirmwareFile,
    is_gzip,
    is_tar,
    is_zip,
    multipart,
    require,
)
from asic_bridge.drivers.values import number, percent, whole
from asic_bridge.errors import (
    APIError,
    AuthenticationError,
    CommandError,
    ConfigError,
    InvalidResponseError,
    UnsupportedError,
)
from asic_bridge.transport.http import HTTPClient, TokenAuth

if TYPE_CHECKING:
    from asic_bridge.config import (
        FanModeImmersion,
        FanModeManual,
        FanModeNormal,
        MinerConfig,
        MiningModeNormal,
        MiningModePreset,
        MiningModeSleep,
        MiningPreset,
    )

__all__ = [
    "FAMILIES",
    "VNishMiner",
    "choose_preset",
    "parse_active_preset",
    "parse_preset",
    "parse_preset_list",
    "parse_settings_config",
    "resolve_model",
]

MAKE = "AntMiner"
FIRMWARE = "VNish"
API = "/api/v1"
STOPPED_STATES = frozenset({"stopped", "shutting-down", "failure", "paused"})

# ---------------------------------------------------------------------------------------------
# Pure parsers.

_VERSION = re.compile(r"\(\s*vnish\s+([^)]+)\)", re.IGNORECASE)
_RATE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTPE]?)(?:H(?:/S)?)?\b", re.IGNORECASE)


def resolve_model(raw: str) -> tuple[str, ModelInfo | None]:
    """``"Antminer S19j Pro (Vnish 1.2.6)"`` -> ("Antminer S19j Pro", its catalog entry).

    ``(88)`` (boards without PIC) and `` AML`` (the Amlogic control board) follow pyasic's
    reading: the first becomes "No PIC", the second is dropped.
    """
    text = raw.strip()
    nopic = "(88)" in text
    text = _VERSION.sub("", text).replace("(88)", "").replace(" AML", "").strip()
    if " (" in text:
        text = text.split(" (", 1)[0].strip()
    if nopic:
        text = f"{text} No PIC"
    return text, catalog.lookup(text, make=MAKE)


def _summary(summary: object) -> Mapping[str, Any]:
    """The summary answer, checked for its ``miner`` object (six parsers a poll ask).

    A plain dict (every decoded answer) is returned as it is, tested without the Mapping ABC;
    the parsers only read it."""
    if type(summary) is dict and type(summary.get("miner")) is dict:
        return summary
    if not isinstance(summary, Mapping) or not isinstance(summary.get("miner"), Mapping):
        raise ValueError("summary has no 'miner' object")
    return dict(summary)


def _network(info: object) -> Mapping[str, Any]:
    """``system.network_status`` of ``/info`` (1.2.x summaries carry no ``system`` section)."""
    system = info.get("system") if isinstance(info, Mapping) else None
    net = system.get("network_status") if isinstance(system, Mapping) else None
    if not isinstance(net, Mapping):
        raise ValueError("info has no system.network_status")
    return net


def parse_mac(ctx: ParseContext, info: object) -> str | None:
    return normalize_mac(_network(info).get("mac"))


def parse_hostname(ctx: ParseContext, info: object) -> str | None:
    value = _network(info).get("hostname")
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_fw_ver(ctx: ParseContext, summary: object) -> str | None:
    miner_type = _summary(summary)["miner"].get("miner_type")
    m = _VERSION.search(miner_type) if isinstance(miner_type, str) else None
    return m.group(1).strip() if m else None


def parse_wattage(ctx: ParseContext, summary: object) -> int | None:
    """Watts: ``power_consumption``.  ``power_usage`` meant the same up to 1.2.0 and is the
    efficiency (J/TH) from 1.2.6 on (the firmware's API document says so), so it is read
    only from a summary without ``power_consumption``."""
    miner = _summary(summary)["miner"]
    if "power_consumption" in miner:
        return whole(miner["power_consumption"])
    return whole(miner.get("power_usage"))


def _state(summary: object) -> str | None:
    status = _summary(summary)["miner"].get("miner_status")
    state = status.get("miner_state") if isinstance(status, Mapping) else None
    return state if isinstance(state, str) else None


# summary ``cooling.settings.mode.name`` (the settings document says ``immers`` instead)
_FAN_MODES = {"auto": "normal", "manual": "manual", "immersion": "immersion", "immers": "immersion"}


def _cooling(summary: object) -> Mapping[str, Any]:
    cooling = _summary(summary)["miner"].get("cooling")
    return cooling if isinstance(cooling, Mapping) else {}


def parse_fan_mode(ctx: ParseContext, summary: object) -> str | None:
    settings = _cooling(summary).get("settings")
    mode = settings.get("mode") if isinstance(settings, Mapping) else None
    name = mode.get("name") if isinstance(mode, Mapping) else None
    return _FAN_MODES.get(name) if isinstance(name, str) else None


def parse_fan_percent(ctx: ParseContext, summary: object) -> int | None:
    """``cooling.fan_duty``: the PWM duty in % the firmware drives the fans at."""
    return percent(_cooling(summary).get("fan_duty"))


def parse_is_mining(ctx: ParseContext, summary: object) -> bool | None:
    state = _state(summary)
    return None if state is None else state not in STOPPED_STATES


def parse_errors(ctx: ParseContext, summary: object) -> list[MinerErrorData]:
    out = []
    miner = _summary(summary)["miner"]
    status = miner.get("miner_status")
    if isinstance(status, Mapping) and status.get("miner_state") == "failure":
        text = str(status.get("description") or "failure")
        code = status.get("failure_code")
        out.append(MinerErrorData(error_code=whole(code), error_message=f"miner: {text}"))
    chains = miner.get("chains")
    for chain in chains if isinstance(chains, list) else []:
        status = chain.get("status") if isinstance(chain, Mapping) else None
        if isinstance(status, Mapping) and status.get("state") == "failure":
            text = str(status.get("description") or "failure")
            out.append(MinerErrorData(error_message=f"chain {chain.get('id')}: {text}"))
    return out


def _miner_settings(web_settings: object) -> Mapping[str, Any]:
    if not isinstance(web_settings, Mapping) or not isinstance(web_settings.get("miner"), Mapping):
        raise ValueError("settings has no 'miner' object")
    miner: Mapping[str, Any] = web_settings["miner"]
    return miner


def parse_active_preset(ctx: ParseContext | None, web_settings: object) -> str | None:
    """``settings.miner.overclock.preset`` as written: a preset name or ``disabled`` (stock
    clocks, itself an entry of the firmware's preset list)."""
    overclock = _miner_settings(web_settings).get("overclock")
    preset = overclock.get("preset") if isinstance(overclock, Mapping) else None
    return str(preset) if preset not in (None, "") else None


def _active_preset(web_settings: object) -> str | None:
    """The active power preset; None with presets disabled."""
    preset = parse_active_preset(None, web_settings)
    return None if preset is None or preset.lower() == "disabled" else preset


def parse_wattage_limit(ctx: ParseContext, web_settings: object) -> int | None:
    """The active preset's wattage (presets are named by it); None with presets disabled."""
    preset = _active_preset(web_settings)
    return whole(preset) if preset is not None else None


def parse_rate(text: str, algo: str = "SHA256") -> float | None:
    """``"104 TH"``, ``"11500 M"``, ``"9.5 GH/s"`` -> the algorithm's default unit."""
    m = _RATE.match(text)
    if m is None:
        return None
    prefix = (m.group(2) or "T").upper()
    return to_default(float(m.group(1)), f"{prefix}H/s", algo)


def parse_preset(item: Mapping[str, Any], algo: str = "SHA256") -> MiningPreset | None:
    """One ``autotune/presets`` entry (``pretty`` = ``"<W> watt ~ <rate>"``)."""
    from asic_bridge.config import MiningPreset

    name = item.get("name")
    if not isinstance(name, str) or not name:
        return None
    power: int | None = None
    hashrate: float | None = None
    pretty = item.get("pretty")
    if isinstance(pretty, str) and "~" in pretty:
        left, right = pretty.split("~", 1)
        power = whole(left.lower().replace("watt", "").strip())
        hashrate = parse_rate(right.replace(" LC", ""), algo)
    if power is None:
        power = whole(name)
    status = item.get("status")
    return MiningPreset(
        name=name,
        power=power,
        hashrate=round(hashrate, 6) if hashrate is not None else None,
        tuned=status == "tuned" if isinstance(status, str) else None,
    )


def parse_preset_list(presets: object, algo: str = "SHA256") -> list[MiningPreset]:
    """Every entry of ``autotune/presets`` in the firmware's order, ``disabled`` included."""
    items = presets.get("presets") if isinstance(presets, Mapping) else presets
    if not isinstance(items, list):
        raise ValueError("autotune/presets is not a list")
    return [p for item in items if isinstance(item, Mapping) if (p := parse_preset(item, algo))]


def parse_presets(presets: object, algo: str = "SHA256") -> list[MiningPreset]:
    """The tuned power presets; the list's ``disabled`` entry (stock clocks) is not one."""
    return [p for p in parse_preset_list(presets, algo) if p.name != "disabled"]


def power_bounds(presets: list[MiningPreset]) -> tuple[int, int] | None:
    """The lowest and highest preset watts: the only targets the firmware can run."""
    watts = [p.power for p in presets if p.power]
    return (min(watts), max(watts)) if watts else None


def choose_preset(presets: list[MiningPreset], wattage: int) -> MiningPreset | None:
    """The highest-power preset at or below ``wattage``."""
    fitting = [p for p in presets if p.power is not None and p.power <= wattage]
    return max(fitting, key=lambda p: p.power or 0) if fitting else None


def parse_settings_config(
    ctx: ParseContext, web_settings: object, presets: object, summary: object | None = None
) -> MinerConfig:
    from asic_bridge.config import (
        FanModeImmersion,
        FanModeManual,
        FanModeNormal,
        MinerConfig,
        MiningModeNormal,
        MiningModePreset,
        MiningModeSleep,
        Pool,
        PoolConfig,
        PoolGroup,
        TemperatureConfig,
    )

    miner = _miner_settings(web_settings)
    pools = [
        Pool(url=str(p["url"]), user=str(p.get("user", "")), password=str(p.get("pass") or "x"))
        for p in miner.get("pools") or []
        if isinstance(p, Mapping) and isinstance(p.get("url"), str) and p["url"]
    ]
    cooling = miner.get("cooling") if isinstance(miner.get("cooling"), Mapping) else {}
    assert isinstance(cooling, Mapping)
    mode = cooling.get("mode") if isinstance(cooling.get("mode"), Mapping) else {}
    assert isinstance(mode, Mapping)
    fan: FanModeNormal | FanModeManual | FanModeImmersion | None = None
    min_fans = whole(cooling.get("fan_min_count"))
    if mode.get("name") == "manual":
        speed = whole(mode.get("param"))
        fan = FanModeManual(speed=max(0, min(speed if speed is not None else 100, 100)),
                            minimum_fans=max(min_fans or 0, 0))  # fmt: skip
    elif mode.get("name") == "immers":
        fan = FanModeImmersion()
    elif mode.get("name") == "auto":
        duty = whole(cooling.get("fan_min_duty"))
        fan = FanModeNormal(minimum_fans=max(min_fans or 0, 0),
                            minimum_speed=max(0, min(duty or 0, 100)))  # fmt: skip
    misc = miner.get("misc") if isinstance(miner.get("misc"), Mapping) else {}
    assert isinstance(misc, Mapping)
    target = number(mode.get("param")) if mode.get("name") == "auto" else None
    temperature = TemperatureConfig(target=target, danger=number(misc.get("restart_temp")))
    available = parse_presets(presets, ctx.algo)
    active = _active_preset(web_settings)
    mining: MiningModeSleep | MiningModePreset | MiningModeNormal
    if summary is not None and parse_is_mining(ctx, summary) is False:
        mining = MiningModeSleep()
    elif active is None:
        mining = MiningModeNormal()
    else:
        mining = MiningModePreset(active_preset=active, available_presets=available)
    return MinerConfig(
        pools=PoolConfig(groups=[PoolGroup(pools=pools)]),
        fan_mode=fan,
        temperature=temperature,
        mining_mode=mining,
    )


def encode_settings(
    config: MinerConfig, live: Mapping[str, Any], auto_target: int | None = None
) -> dict[str, Any]:
    """The live ``settings`` document with ``config``'s parts written in (read-modify-write).

    ``cooling.mode.param`` is the target temperature in auto and the fan duty in manual, so a
    mode change never carries the old param over: auto takes the temperature target given,
    else ``auto_target`` (the last one this miner ran)."""
    from asic_bridge.config import (
        FanModeImmersion,
        FanModeManual,
        FanModeNormal,
        MiningModeNormal,
        MiningModePreset,
    )

    out = copy.deepcopy(dict(live))
    miner = out.setdefault("miner", {})
    if config.pools is not None:
        old = {(p.get("url"), p.get("user")): p for p in miner.get("pools") or []}
        pools = []
        for i, pool in enumerate(p for g in config.pools.groups for p in g.pools):
            prev = old.get((pool.url, pool.user), {})
            password = pool.password
            if password == "x" and prev.get("pass"):
                password = str(prev["pass"])  # "x" = keep the stored password
            pools.append({**prev, "url": pool.url, "user": pool.user, "pass": password,
                          "order": i})  # fmt: skip
        if not pools:
            raise ConfigError("at least one pool is needed")
        miner["pools"] = pools
    cooling = miner.setdefault("cooling", {})
    fan = config.fan_mode
    previous = cooling.get("mode") if isinstance(cooling.get("mode"), Mapping) else {}
    # a minimum the caller did not give stays as the miner has it
    given = fan.model_fields_set if fan is not None else set()
    if isinstance(fan, (FanModeManual, FanModeNormal)) and "minimum_fans" in given:
        cooling["fan_min_count"] = fan.minimum_fans
    if isinstance(fan, FanModeManual):
        cooling["mode"] = {"name": "manual", "param": fan.speed}
    elif isinstance(fan, FanModeImmersion):
        cooling["mode"] = {"name": "immers"}
    elif isinstance(fan, FanModeNormal):
        if "minimum_speed" in given:
            cooling["fan_min_duty"] = fan.minimum_speed
        if previous.get("name") != "auto":
            cooling["mode"] = {"name": "auto"}
            if auto_target is not None:
                cooling["mode"]["param"] = auto_target
    temp = config.temperature
    target = temp.target if temp is not None else None
    if target is not None and cooling.get("mode", {}).get("name") == "auto":
        cooling["mode"]["param"] = round(target)
    if isinstance(fan, FanModeNormal) and "param" not in cooling["mode"]:
        raise ConfigError(
            "VNish's auto fan mode needs a target temperature (temperature.target): none "
            "was given and this miner has not been seen in auto mode"
        )
    if temp is not None and temp.danger is not None:
        miner.setdefault("misc", {})["restart_temp"] = round(temp.danger)
    mode = config.mining_mode
    overclock = miner.setdefault("overclock", {})
    if isinstance(mode, MiningModeNormal):
        overclock["preset"] = "disabled"
    elif isinstance(mode, MiningModePreset) and mode.active_preset:
        overclock["preset"] = mode.active_preset
    return out


# ---------------------------------------------------------------------------------------------
# The driver.

_WEB_SOURCES = ("summary", "settings", "autotune/presets", "perf-summary")


class VNishMiner(CGMinerRPCMiner):
    """An Antminer on VNish: BMMiner RPC for hashing figures, REST for the rest."""

    make = MAKE
    firmware = FIRMWARE
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
            Capability.FIRMWARE_UPGRADE,
            Capability.PRESETS,
            Capability.FAN_CONTROL,
        }
    )
    supported_modes = ("normal", "sleep", "preset")
    supported_fan_modes = ("normal", "manual", "immersion")
    EMPTY_OK: ClassVar[frozenset[str]] = frozenset({"devs"})
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "mac": FieldSpec(("web:info",), parse_mac, static=True),
        "hostname": FieldSpec(("web:info",), parse_hostname, static=True),
        "fw_ver": FieldSpec(("web:summary",), parse_fw_ver, static=True),
        "api_ver": FieldSpec(("rpc:version",), parse_api_ver, static=True),
        "hashrate": FieldSpec(("rpc:summary",), parse_summary_hashrate),
        "expected_hashrate": FieldSpec(("rpc:stats",), parse_cgminer_expected_hashrate),
        "hashboards": FieldSpec(("rpc:stats", "rpc:devs"), parse_cgminer_hashboards),
        "fans": FieldSpec(("rpc:stats",), parse_cgminer_fans),
        "fan_mode": FieldSpec(("web:summary",), parse_fan_mode),
        "fan_percent": FieldSpec(("web:summary",), parse_fan_percent),
        "uptime": FieldSpec(("rpc:summary",), parse_uptime),
        "pools": FieldSpec(("rpc:pools",), parse_pools),
        "wattage": FieldSpec(("web:summary",), parse_wattage),
        "wattage_limit": FieldSpec(("web:settings",), parse_wattage_limit),
        "active_preset": FieldSpec(("web:settings",), parse_active_preset),
        "is_mining": FieldSpec(("web:summary",), parse_is_mining),
        "errors": FieldSpec(("web:summary",), parse_errors),
        "config": FieldSpec(
            ("web:settings", "web:autotune/presets", "web:summary"), parse_settings_config
        ),
    }

    def __init__(self, ip: str, **kwargs: Any) -> None:
        super().__init__(ip, **kwargs)
        self._auth = TokenAuth(self._unlock, template="{token}")
        self._auto_target: int | None = None

    @property
    def web(self) -> HTTPClient:
        port = self.port("http", 80)
        return self._client_for("web", port, lambda: HTTPClient(self.ip, port, auth=self._auth))

    async def _unlock(self) -> str:
        password = self.credentials.password_or("default_vnish_password")
        result = await self.web.post(f"{API}/unlock", json={"pw": password}, use_auth=False)
        if result.status in (401, 403) or (result.ok and not isinstance(result.json(), dict)):
            raise AuthenticationError(
                "the miner refused the web password", ip=self.ip, command="unlock"
            )
        if not result.ok:
            raise APIError(f"unlock answered HTTP {result.status}", ip=self.ip, command="unlock")
        token = result.json().get("token")
        if not isinstance(token, str) or not token:
            raise InvalidResponseError("unlock gave no token", ip=self.ip, command="unlock")
        return token

    async def web_get(self, name: str) -> Any:
        result = await self.web.get(f"{API}/{name}")
        if not result.ok:
            raise APIError(f"HTTP {result.status}", ip=self.ip, command=name)
        return result.json()

    async def web_post(self, name: str, body: Any = None) -> Any:
        result = await self.web.post(f"{API}/{name}", json=body)
        if not result.ok:
            detail = ""
            try:
                payload = result.json()
                if isinstance(payload, Mapping):
                    detail = str(payload.get("err") or "")
            except APIError:
                pass
            raise CommandError(f"HTTP {result.status} {detail}".strip(), ip=self.ip, command=name)
        return result.json() if result.body.strip() else None

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group != "web":
            return await super()._fetch_group(group, names)
        return await self._fetch_each(names, self.web_get)

    # -------------------------------------------------------------- controls
    async def _set_fault_light(self, on: bool) -> bool:
        for _ in range(2):  # a toggle: at most two presses reach either state
            answer = await self.web_post("find-miner")
            if isinstance(answer, Mapping) and answer.get("on") is on:
                return True
        return False

    async def _set_mining(self, on: bool) -> bool:
        await self.web_post("mining/start" if on else "mining/stop")
        return True

    async def _restart_backend(self) -> bool:
        await self.web_post("mining/restart")
        return True

    # -------------------------------------------------------------- firmware upload
    # The firmware's OpenAPI document (tests/fixtures/real/vnish/1.3.4/docs-api-doc.json,
    # operation firmwareUpdate): POST /api/v1/firmware/update, bearer auth, multipart with
    # "file" (binary, required) and "keep_settings" ("true"/"false"); 200 RebootAfter
    # {"after": seconds}, 500 ErrDescr {"err": ...}.  VNish packages are archives (tar,
    # tar.gz or zip); the firmware judges the contents.
    def _check_firmware(self, firmware: FirmwareFile) -> None:
        data = firmware.data
        require(
            firmware,
            is_gzip(data) or is_tar(data) or is_zip(data),
            "a .tar.gz, .tar or .zip package",
            "VNish",
        )

    async def _upgrade_firmware(self, firmware: FirmwareFile, keep_settings: bool) -> bool:
        token = await self._auth.token()
        body, content_type = multipart(
            {"keep_settings": "true" if keep_settings else "false"},
            {"file": (firmware.name, firmware.data, "application/octet-stream")},
        )
        result = await self.web.request(
            "POST",
            f"{API}/firmware/update",
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
            use_auth=False,
            timeout=UPLOAD_TIMEOUT,
        )
        payload: Any = None
        with contextlib.suppress(APIError):
            payload = result.json()
        if not result.ok or not isinstance(payload, Mapping) or "after" not in payload:
            detail = payload.get("err") if isinstance(payload, Mapping) else result.text[:200]
            raise CommandError(
                f"update refused (HTTP {result.status}): {detail}",
                ip=self.ip,
                command="firmware/update",
            )
        self._auth.invalidate()  # the reboot that follows ends every session
        return True

    async def _reboot(self) -> bool:
        token = await self._auth.token()
        result = await self.web.post(
            f"{API}/system/reboot", headers={"Authorization": f"Bearer {token}"}, use_auth=False
        )
        if not result.ok:
            raise CommandError(f"HTTP {result.status}", ip=self.ip, command="system/reboot")
        self._auth.invalidate()  # the reboot ends every session
        return True

    async def _settings(self) -> dict[str, Any]:
        data = await self.web_get("settings")
        if not isinstance(data, dict):
            raise InvalidResponseError("settings is not an object", ip=self.ip, command="settings")
        return data

    async def _read_power_range(self) -> tuple[int, int] | None:
        return power_bounds(parse_presets(await self.web_get("autotune/presets"), self.algo))

    async def _set_power_limit(self, wattage: int) -> bool:
        presets = parse_presets(await self.web_get("autotune/presets"), self.algo)
        chosen = choose_preset(presets, wattage)
        if chosen is None:
            lowest = min((p.power for p in presets if p.power), default=None)
            raise ConfigError(
                f"no VNish preset is rated at or below {wattage} W (lowest: {lowest} W)"
            )
        return await self._set_preset(chosen.name)

    async def _get_presets(self) -> list[MiningPreset]:
        return parse_preset_list(await self.web_get("autotune/presets"), self.algo)

    async def _set_preset(self, name: str) -> bool:
        """``settings.miner.overclock.preset`` = ``name`` (``disabled`` = stock clocks), the
        rest of the settings document as it was; read back from ``settings``."""
        from asic_bridge.config import MinerConfig, MiningModePreset

        live = await self._settings()
        body = encode_settings(MinerConfig(mining_mode=MiningModePreset(
            active_preset=name)), live)  # fmt: skip
        await self.web_post("settings", body)
        applied = parse_active_preset(None, await self._settings())
        self._confirm_applied("VNish preset", name, applied, "settings")
        return True

    async def _live(self) -> tuple[dict[str, Any], Any, Any]:
        live, presets, summary = await asyncio.gather(
            self._settings(), self.web_get("autotune/presets"), self.web_get("summary")
        )
        return live, presets, summary

    async def _get_config(self) -> MinerConfig:
        from asic_bridge.config import FanModeNormal

        live, presets, summary = await self._live()
        config = parse_settings_config(self._ctx(), live, presets, summary)
        target = config.temperature.target if config.temperature else None
        if isinstance(config.fan_mode, FanModeNormal) and target is not None:
            self._auto_target = round(target)  # what a later switch back to auto runs at
        return config

    def _ctx(self) -> ParseContext:
        return ParseContext(self.algo, self.model_info, self.identity)

    async def _send_config(self, config: MinerConfig, live: MinerConfig) -> None:
        from asic_bridge.config import MiningModePreset, MiningModeSleep

        mode = config.mining_mode
        if mode is not None and mode.mode not in ("normal", "preset", "sleep", "power_tuning"):
            raise UnsupportedError(f"mining mode {mode.mode!r}", "VNish")
        if isinstance(mode, MiningModePreset) and not mode.active_preset:
            raise ConfigError("the preset mode needs a preset name (one of autotune/presets)")
        doc = await self._settings()
        wanted = config
        if mode is not None and mode.mode == "power_tuning":
            presets = parse_presets(await self.web_get("autotune/presets"), self.algo)
            chosen = choose_preset(presets, getattr(mode, "power", None) or 0)
            if chosen is None:
                raise ConfigError("no VNish preset fits that power target")
            wanted = config.model_copy(
                update={"mining_mode": MiningModePreset(active_preset=chosen.name)}
            )
        body = encode_settings(wanted, doc, self._auto_target)
        if body != doc:
            await self.web_post("settings", body)
        if mode is not None and mode != live.mining_mode:
            if mode.mode == "sleep":
                await self._set_mining(False)
            elif isinstance(live.mining_mode, MiningModeSleep):
                await self._set_mining(True)


# ---------------------------------------------------------------------------------------------
# Identification.


def _matches(e: Evidence) -> bool:
    return "AnthillOS" in e.http_body or "VNISH" in e.rpc_text


async def _build(e: Evidence, creds: Credentials) -> BaseMiner | None:
    miner = VNishMiner(e.ip, credentials=creds, ports=e.ports)
    timeout = e.limits.identify_timeout
    raw: str | None = None
    try:
        stats = await miner.rpc.send("stats", timeout=timeout)
        head = first_entry(stats, "STATS") or {}
        raw = head.get("Type") if isinstance(head.get("Type"), str) else None
    except APIError:
        pass
    summary: Any = None
    web_info: Any = None
    try:
        result = await miner.web.get(f"{API}/summary", timeout=timeout)
        summary = result.json() if result.ok else None
        result = await miner.web.get(f"{API}/info", timeout=timeout)
        web_info = result.json() if result.ok else None
    except APIError:
        pass
    if raw is None and isinstance(summary, Mapping):
        miner_info = summary.get("miner")
        if isinstance(miner_info, Mapping) and isinstance(miner_info.get("miner_type"), str):
            raw = miner_info["miner_type"]
    model, info = resolve_model(raw) if raw else (None, None)
    identity = Identity(
        ip=e.ip,
        make=MAKE,
        firmware=FIRMWARE,
        model=info.model if info else model,
        raw_model=raw,
        algo=info.algo if info else "SHA256",
        model_info=info,
    )
    version = first_entry(e.rpc_version, "VERSION") or {}
    identity.api_ver = str(version["API"]) if version.get("API") else None
    ctx = ParseContext(identity.algo, info, identity)
    for name, parse, doc in (("mac", parse_mac, web_info),
                             ("hostname", parse_hostname, web_info),
                             ("fw_ver", parse_fw_ver, summary)):  # fmt: skip
        if doc is not None:
            with contextlib.suppress(ValueError):
                setattr(identity, name, parse(ctx, doc))
    miner.identity = identity
    return miner


FAMILIES = [Family("vnish", _matches, _build)]
