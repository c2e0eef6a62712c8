"""The client-side wire layer: how bytes reach a miner and come back.

- :mod:`.rpc`: CGMiner-style JSON over TCP 4028 (one connection per request, batching,
  payload repair).
- :mod:`.whatsminer`: btminer API v2 crypto (md5-crypt, AES) and API v3 framing/signing.
- :mod:`.http`: one kept-alive httpx client per miner with digest/token auth.
- :mod:`.ssh`: asyncssh command execution with argv quoting.

Drivers build on these; nothing here knows about a particular firmware's fields.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asic_bridge.transport.http import HTTPClient, HTTPResult, TokenAuth, digest_auth
    from asic_bridge.transport.rpc import RPCClient, check_status, parse_rpc_payload
    from asic_bridge.transport.ssh import SSHClient, build_command
    from asic_bridge.transport.whatsminer import (
        WhatsminerV2Session,
        WhatsminerV3Client,
        decode_v3_frame,
        decrypt_v2,
        derive_v2_keys,
        encode_v3_frame,
        encrypt_v2,
        md5_crypt,
        v3_token,
    )

# Lazy re-exports: asyncssh alone costs ~120 ms to import, and most callers need only RPC.
_HOMES = {
    "HTTPClient": "http",
    "HTTPResult": "http",
    "TokenAuth": "http",
    "digest_auth": "http",
    "RPCClient": "rpc",
    "check_status": "rpc",
    "parse_rpc_payload": "rpc",
    "SSHClient": "ssh",
    "build_command": "ssh",
    "WhatsminerV2Session": "whatsminer",
    "WhatsminerV3Client": "whatsminer",
    "decode_v3_frame": "whatsminer",
    "decrypt_v2": "whatsminer",
    "derive_v2_keys": "whatsminer",
    "encode_v3_frame": "whatsminer",
    "encrypt_v2": "whatsminer",
    "md5_crypt": "whatsminer",
    "v3_token": "whatsminer",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "HTTPClient",
    "HTTPResult",
    "RPCClient",
    "SSHClient",
    "TokenAuth",
    "WhatsminerV2Session",
    "WhatsminerV3Client",
    "build_command",
    "check_status",
    "decode_v3_frame",
    "decrypt_v2",
    "derive_v2_keys",
    "digest_auth",
    "encode_v3_frame",
    "encrypt_v2",
    "md5_crypt",
    "parse_rpc_payload",
    "v3_token",
]
