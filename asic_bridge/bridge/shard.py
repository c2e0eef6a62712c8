"""Several bridges for one farm: which instance owns which miner (``shard`` in bridge.yaml).

Every instance scans the same ranges; each adopts, polls and announces only the miners it
owns.  Ownership is rendezvous (highest-random-weight) hashing of the miner's MAC: each
instance index gets a weight from a hash of (MAC, index) and the highest weight owns the
miner.  It needs no shared state, gives every instance ~1/N of the fleet, and when the count
changes from N to N+1 only the miners whose new highest weight is the new index move (~1/(N+1)
of them); none move between the instances that stay.  A miner that reports no MAC is keyed
by its IP instead, so it moves if its address changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Container
from dataclasses import dataclass

import orjson

from asic_bridge.bridge.topics import Incoming, mac_id


def shard_key(mac: str | None, ip: str) -> str:
    """The MAC (12 lowercase hex digits, however it was written), else the IP."""
    return mac_id(mac) if mac else ip


def weight(key: str, index: int) -> int:
    """A stable 64-bit weight of ``key`` for instance ``index`` (not Python's salted hash)."""
    digest = hashlib.blake2b(f"{key}#{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(key: str, count: int) -> int:
    """The index, in ``range(count)``, of the instance that owns ``key``."""
    return max(range(count), key=lambda index: weight(key, index))


@dataclass(frozen=True)
class Shard:
    """This instance's part of the fleet: ``index`` of ``count`` (1 = the whole fleet)."""

    index: int = 0
    count: int = 1

    def owns(self, mac: str | None, ip: str) -> bool:
        return self.count == 1 or owner(shard_key(mac, ip), self.count) == self.index


#: The shared requests about one miner, by path, and the key naming it in their payload.
MINER_REQUESTS = {
    "poll": "id",
    "remove": "id",
    "device/remove": "id",
    "device/options": "id",
    "device/firmware_update": "id",
    "device/rename": "from",
}


def answered_here(incoming: Incoming, payload: bytes, owned: Container[str], index: int) -> bool:
    """Sharded, every instance hears every command: whether this one acts on (or refuses)
    ``incoming``.  One answer each, never N contradicting ones:

    - ``<id>/set``, ``/set/<field>``, ``/get``: the miner's owner only (the others are silent);
    - the shared ``bridge/request/<path>``: a request naming one miner (``MINER_REQUESTS``)
      by its owner, nothing else (those go to ``bridge/<instance>/request/<path>``);
    - ``fleet/<group>/set`` (refused when sharded): instance 0;
    - the rest (this instance's own requests, HA's birth): here.
    """
    if incoming.kind in ("set", "set_field", "get"):
        return incoming.target in owned
    if incoming.kind == "shared_request":
        key = MINER_REQUESTS.get(incoming.name or "")
        try:
            args = orjson.loads(payload) if key else None
        except orjson.JSONDecodeError:
            return False
        return isinstance(args, dict) and isinstance(args.get(key), str) and args[key] in owned
    if incoming.kind == "fleet_set":
        return index == 0
    return True
