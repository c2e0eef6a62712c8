"""IceRiver KS0/KS1/KS2/KS3/KS3L/KS3M/KS5 (kHeavyHash) and AL3: the stock web UI on port 80.

There is no RPC.  The web UI keeps a server-side login: ``POST
/user/loginpost?post=6&user=admin&pwd=...`` starts a session (a cookie this client keeps),
after which ``POST /user/userpanel?post=4`` answers everything as ``{"data": {...}}``.  The
driver logs in once, keeps the session on its kept-alive client, and logs in again (once) when
the firmware answers a call as logged out (a redirect to the login page, HTTP 401, or a JSON
answer without ``data``).

Field sources (``userpanel`` ``data``):

========================  ==============================================================
hashrate                  ``rtpow`` ("6.12T") in ``unit`` (T/G/M); kHeavyHash TH/s out
hashboards                ``boards[]``: ``no`` (from 1), ``rtpow`` ("2041.20G"),
                          ``intmp``/``outtmp`` (inlet/outlet sensors; the outlet, the hotter
                          side, is reported as the board temperature), ``chipnum``
fans                      ``fans`` (RPM list)
uptime                    ``runtime`` ("d:hh:mm:ss")
pools                     ``pools[]``: ``addr``, ``user``, ``accepted``, ``rejected``,
                          ``connect`` (in use), ``state`` (1 = alive)
is_mining / fault_light   ``powstate`` / ``locate``
mac / hostname / fw_ver   ``mac`` ("AA-BB-..") / ``host`` / ``softver1``
========================  ==============================================================

Firmware 3.2.x (ICM168_3_2_10, a real KS5L capture) sends every number as a float (``no``
1.0, ``chipnum`` 18.0, ``accepted`` 7225.0) and a pool's ``connect`` as 1.0 (in use) or -1.0;
older builds send integers and booleans.  The parsers take both.

The model is the token of ``softver1`` that names one ("..._ks3m_miner" -> KS3M), or the
``model``/``type`` key where a firmware has one: pyasic reads only the second-to-last token
and comes back empty-handed on firmware that spells it differently (pyasic#219, KS3M).

Controls: the locate LED (``userpanel?post=5&locate=1|0``) and get_config (the pools).  The
firmware's pool, reboot and power settings are not documented well enough to write safely, so
they are not offered.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from asic_bridge import catalog
from asic_bridge.credentials import Credentials
from asic_bridge.data import Fan, HashBoard, PoolMetrics, board_from, pool_from, to_default
from asic_bridge.drivers import Evidence, Family
from asic_bridge.drivers.base import (
    BaseMiner,
    Capability,
    FieldSpec,
    Identity,
    ParseContext,
    normalize_mac,
)
from asic_bridge.drivers.values import number, whole
from asic_bridge.drivers.values import text as _text
from asic_bridge.errors import (
    APIError,
    AuthenticationError,
    CommandError,
    InvalidResponseError,
    NotAppliedError,
)
from asic_bridge.transport.http import HTTPClient, HTTPResult

if TYPE_CHECKING:
    from asic_bridge.config import MinerConfig

__all__ = ["FAMILIES", "IceRiverMiner", "model_from", "parse_rate"]

MAKE = "IceRiver"
WEB_USER = "admin"
TITLE = "用户界面"  # the stock UI's page title ("user interface")

_RATE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([KMGTP]?)\s*(?:H(?:/S)?)?\s*$", re.IGNORECASE)


def parse_rate(text: object, unit: object, algo: str) -> float | None:
    """``"6.12T"`` (or a bare number in ``unit``) -> ``algo``'s default unit; None if garbled."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        value, prefix = float(text), str(unit or "")
    elif isinstance(text, str):
        m = _RATE.match(text)
        if m is None:
            return None
        value, prefix = float(m.group(1)), m.group(2) or str(unit or "")
    else:
        return None
    prefix = prefix.strip().upper()[:1]
    if prefix not in ("", "K", "M", "G", "T", "P"):
        return None
    return to_default(max(value, 0.0), f"{prefix}H/s", algo)


def _data(panel: object) -> Mapping[str, Any]:
    if not isinstance(panel, Mapping) or not isinstance(panel.get("data"), Mapping):
        raise ValueError("userpanel answer has no data object")
    data: Mapping[str, Any] = panel["data"]
    return data


# ---------------------------------------------------------------------------------------------
# Pure parsers.


def parse_hashrate(ctx: ParseContext, panel: object) -> float | None:
    data = _data(panel)
    return parse_rate(data.get("rtpow"), data.get("unit"), ctx.algo)


def parse_hashboards(ctx: ParseContext, panel: object) -> list[HashBoard]:
    info = ctx.model_info
    per_board = info.chips_per_board if info else None
    boards: dict[int, HashBoard] = {}
    rows = _data(panel).get("boards")
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, Mapping):
            continue
        board_no = whole(row.get("no"))
        if board_no is None or not 1 <= board_no <= 64:
            continue
        rate = parse_rate(row.get("rtpow"), "G", ctx.algo)
        inlet, outlet = number(row.get("intmp")), number(row.get("outtmp"))
        chips = whole(row.get("chipnum"))
        boards[board_no - 1] = board_from(
            {
                "slot": board_no - 1,
                "hashrate": rate,
                "temp": outlet or None,
                "inlet_temp": inlet or None,
                "outlet_temp": outlet or None,
                "chips": chips,
                "expected_chips": per_board,
                "missing": not chips and not rate,
                "active": bool(rate),
            }
        )
    for slot in range(info.hashboards if info and info.hashboards else 0):
        boards.setdefault(
            slot, board_from({"slot": slot, "expected_chips": per_board, "missing": True})
        )
    return [boards[slot] for slot in sorted(boards)]


def parse_fans(ctx: ParseContext, panel: object) -> list[Fan] | None:
    fans = _data(panel).get("fans")
    if not isinstance(fans, list):
        return None
    return [Fan(speed=whole(rpm)) for rpm in fans]


def parse_uptime(ctx: ParseContext, panel: object) -> int | None:
    text = _data(panel).get("runtime")
    if not isinstance(text, str):
        return None
    parts = [whole(p) for p in text.strip().split(":")]
    if not 1 <= len(parts) <= 4 or any(p is None or p < 0 for p in parts):
        return None
    total = 0
    for factor, part in zip((86400, 3600, 60, 1)[-len(parts) :], parts, strict=True):
        assert part is not None
        total += factor * part
    return total


def parse_pools(ctx: ParseContext, panel: object) -> list[PoolMetrics]:
    rows = _data(panel).get("pools")
    out = []
    for position, row in enumerate(rows if isinstance(rows, list) else []):
        if not isinstance(row, Mapping) or not isinstance(row.get("addr"), str):
            continue
        if not row["addr"].strip():
            continue
        pool_no = whole(row.get("no"))
        out.append(
            pool_from(
                {
                    "url": row["addr"].strip(),
                    "user": str(row["user"]) if row.get("user") is not None else None,
                    "index": pool_no if pool_no is not None else position,
                    "accepted": whole(row.get("accepted")),
                    "rejected": whole(row.get("rejected")),
                    "active": _flag(row.get("connect")),
                    "alive": whole(row.get("state")) == 1 if "state" in row else None,
                }
            )
        )
    return out


def _flag(value: object) -> bool | None:
    """A boolean as the firmware writes it: true/false, or 1.0 / -1.0 (3.2.x), 1 / 0."""
    if isinstance(value, bool):
        return value
    reading = number(value)
    return None if reading is None else reading > 0


def parse_is_mining(ctx: ParseContext, panel: object) -> bool | None:
    return _flag(_data(panel).get("powstate"))


def parse_fault_light(ctx: ParseContext, panel: object) -> bool | None:
    return _flag(_data(panel).get("locate"))


def parse_mac(ctx: ParseContext, panel: object) -> str | None:
    return normalize_mac(_data(panel).get("mac"))


def parse_hostname(ctx: ParseContext, panel: object) -> str | None:
    return _text(_data(panel).get("host"))


def parse_fw_ver(ctx: ParseContext, panel: object) -> str | None:
    return _text(_data(panel).get("softver1"))


def parse_config(ctx: ParseContext, panel: object) -> MinerConfig:
    from asic_bridge.config import MinerConfig, Pool, PoolConfig, PoolGroup

    rows = _data(panel).get("pools")
    pools = [
        Pool(
            url=row["addr"].strip(),
            user=str(row.get("user") or ""),
            password=str(row.get("pass") or "x"),
        )
        for row in (rows if isinstance(rows, list) else [])
        if isinstance(row, Mapping) and isinstance(row.get("addr"), str) and row["addr"].strip()
    ]
    return MinerConfig(pools=PoolConfig(groups=[PoolGroup(pools=pools)]))


def model_from(data: Mapping[str, Any]) -> tuple[str | None, catalog.ModelInfo | None]:
    """(raw model, catalog entry) from ``model``/``type`` or a token of ``softver1``."""
    candidates: list[str] = []
    for key in ("model", "type", "minertype"):
        if _text(data.get(key)):
            candidates.append(str(data[key]).strip())
    soft = _text(data.get("softver1")) or ""
    tokens = [t for t in re.split(r"[_\s\-]+", soft) if t]
    for token in reversed(tokens):
        lowered = token.lower()
        if lowered == "miner":
            continue
        candidates.append(lowered.removesuffix("miner").upper())
    for raw in candidates:
        info = catalog.lookup(raw, make=MAKE)
        if info is not None and info.make == MAKE:
            return info.model, info
    return (candidates[0] if candidates else None), None


# ---------------------------------------------------------------------------------------------
# The driver.


def _logged_out(result: HTTPResult) -> bool:
    if result.status in (301, 302, 303, 401, 403):
        return True
    if result.status != 200:
        return False
    try:
        answer = result.json()
    except InvalidResponseError:
        return "<form" in result.text.lower() or "login" in result.text.lower()
    return not (isinstance(answer, dict) and isinstance(answer.get("data"), dict))


class IceRiverMiner(BaseMiner):
    """An IceRiver miner on its stock web UI."""

    make = MAKE
    firmware = "Stock"
    default_algo = "kHeavyHash"
    default_capabilities = frozenset({Capability.FAULT_LIGHT, Capability.GET_CONFIG})
    FIELDS: ClassVar[Mapping[str, FieldSpec]] = {
        "mac": FieldSpec(("web:userpanel",), parse_mac, static=True),
        "hostname": FieldSpec(("web:userpanel",), parse_hostname, static=True),
        "fw_ver": FieldSpec(("web:userpanel",), parse_fw_ver, static=True),
        "hashrate": FieldSpec(("web:userpanel",), parse_hashrate),
        "hashboards": FieldSpec(("web:userpanel",), parse_hashboards),
        "fans": FieldSpec(("web:userpanel",), parse_fans),
        "uptime": FieldSpec(("web:userpanel",), parse_uptime),
        "pools": FieldSpec(("web:userpanel",), parse_pools),
        "is_mining": FieldSpec(("web:userpanel",), parse_is_mining),
        "fault_light": FieldSpec(("web:userpanel",), parse_fault_light),
        "config": FieldSpec(("web:userpanel",), parse_config),
    }

    def __init__(self, ip: str, **kwargs: Any) -> None:
        super().__init__(ip, **kwargs)
        self._login_lock = asyncio.Lock()
        self._session = 0  # bumped on every login, so concurrent callers log in once

    @property
    def web(self) -> HTTPClient:
        port = self.port("http", 80)
        return self._client_for("web", port, lambda: self._new_web(port))

    def _new_web(self, port: int) -> HTTPClient:
        self._session = 0  # a new client has no session cookie
        return HTTPClient(self.ip, port)

    async def aclose(self) -> None:
        await super().aclose()
        self._session = 0  # closing the client drops its cookies

    async def _login(self, seen: int) -> None:
        async with self._login_lock:
            if self._session != seen:
                return  # someone else logged in meanwhile
            password = self.credentials.password_or("default_iceriver_password")
            params = {"post": "6", "user": self.credentials.username_or(WEB_USER), "pwd": password}
            result = await self.web.post("/user/loginpost", params=params)
            if result.status >= 400:
                raise AuthenticationError(
                    f"login answered HTTP {result.status}", ip=self.ip, command="/user/loginpost"
                )
            self._session = seen + 1

    async def panel(self, **params: str) -> dict[str, Any]:
        """``POST /user/userpanel`` with ``params`` (``post=4`` reads everything)."""
        for attempt in (1, 2):
            seen = self._session
            if seen == 0:
                await self._login(seen)
                seen = self._session
            result = await self.web.post("/user/userpanel", params=params)
            if _logged_out(result):
                if attempt == 1:
                    self._session = 0 if self._session == seen else self._session
                    continue
                raise AuthenticationError(
                    "the web UI refused the login (wrong password?)",
                    ip=self.ip,
                    command="/user/userpanel",
                )
            if result.status != 200:
                raise CommandError(f"HTTP {result.status}", ip=self.ip, command="/user/userpanel")
            answer = result.json()
            assert isinstance(answer, dict)
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    async def _fetch_group(self, group: str, names: list[str]) -> dict[str, Any]:
        if group != "web":
            return await super()._fetch_group(group, names)
        try:
            panel: Any = await self.panel(post="4")
        except APIError as exc:
            panel = exc
        return dict.fromkeys(names, panel)

    # -------------------------------------------------------------- controls
    async def _set_fault_light(self, on: bool) -> bool:
        answer = await self.panel(post="5", locate="1" if on else "0")
        state = _flag(answer["data"].get("locate"))
        if state is not None and state != on:
            raise NotAppliedError(
                "the locate LED did not change",
                wanted=on,
                applied=state,
                ip=self.ip,
                command="locate",
            )
        return True

    async def _get_config(self) -> MinerConfig:
        ctx = ParseContext(self.algo, self.model_info, self.identity)
        return parse_config(ctx, await self.panel(post="4"))


# ---------------------------------------------------------------------------------------------
# Identification.


def _matches(e: Evidence) -> bool:
    body = e.http_body
    return TITLE in body or "IceRiver" in body or "iceriver" in body


async def _build(e: Evidence, creds: Credentials) -> BaseMiner | None:
    miner = IceRiverMiner(e.ip, credentials=creds, ports=e.ports)
    try:
        panel = await miner.panel(post="4")
        data: Mapping[str, Any] = _data(panel)
    except (APIError, ValueError):
        data = {}  # wrong password: an IceRiver all the same, model unknown
    raw, info = model_from(data)
    miner.identity = Identity(
        ip=e.ip,
        make=MAKE,
        firmware="Stock",
        model=info.model if info else raw,
        raw_model=raw,
        algo=info.algo if info else "kHeavyHash",
        model_info=info,
        mac=normalize_mac(data.get("mac")),
        hostname=_text(data.get("host")),
        fw_ver=_text(data.get("softver1")),
    )
    return miner


FAMILIES = [Family("iceriver", _matches, _build)]
