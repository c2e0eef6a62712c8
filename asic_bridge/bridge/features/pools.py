"""``fleet/<group>/set {"pools": [...]}``: one pool list for every online miner of a group,
each miner's worker filled in from its template, written through the commands feature (read,
modify, write, read back) and answered per miner.  The fleet feature routes a payload that
carries ``pools`` here; the power target stays its own."""

from __future__ import annotations

import asyncio
from typing import Any

from asic_bridge.bridge import commands as cmd
from asic_bridge.bridge import pools as pool_lists
from asic_bridge.bridge.adoption import Device
from asic_bridge.bridge.features.commands import Commands


def asks_for_pools(payload: bytes) -> bool:
    """Whether a fleet payload is a pool list (cheap: the full check comes after)."""
    try:
        body = cmd.loads(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(body, dict) and "pools" in body


async def set_group_pools(
    commands: Commands, members: list[Device], payload: bytes
) -> dict[str, Any]:
    """Validate all of it first (nothing runs on a bad list), then write every miner at once."""
    body = cmd.decode_json(payload, "payload is not valid JSON")
    cmd.check_transaction(body.pop("transaction", None))
    others = sorted(str(k)[:40] for k in body if k != "pools")
    if others:
        raise cmd.RequestError(f"pools are set on their own; remove {', '.join(others)}")
    try:
        wanted = pool_lists.parse_pools(body["pools"])
    except pool_lists.PoolsError as exc:
        raise cmd.RequestError(str(exc)) from None
    if not members:
        raise cmd.RequestError("no miner of this group is online")

    async def one(device: Device) -> dict[str, Any]:
        try:  # this miner's capabilities, its worker names
            action = cmd.check_field("pools", body["pools"], device.record)
        except cmd.RequestError as exc:
            return {"status": "error", "error": str(exc), "applied": {}}
        return await commands.execute(device, cmd.Command((action,)))

    results = await asyncio.gather(*(one(d) for d in members))
    miners = {d.id: r for d, r in zip(members, results, strict=True)}
    failed = {i: str(r.get("error")) for i, r in miners.items() if r["status"] != "ok"}
    return {"pools": pool_lists.shown(wanted), "miners": miners, "failed": failed}
