"""What a start costs in imports: pydantic and AES load only once something needs them.

Each check runs a fresh interpreter (this process has imported everything already).
"""

from __future__ import annotations

import subprocess
import sys

import asic_bridge


def _loaded_after(code: str) -> set[str]:
    """Top-level packages in sys.modules after running ``code`` in a fresh interpreter."""
    probe = code + "\nimport sys\nprint(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_import_asic_bridge_loads_neither_pydantic_nor_the_drivers() -> None:
    loaded = _loaded_after("import asic_bridge; asic_bridge.settings.get('network_ping_timeout')")
    assert "pydantic" not in loaded and "httpx" not in loaded and "cryptography" not in loaded


def test_reading_a_whatsminer_needs_no_aes() -> None:
    loaded = _loaded_after("import asic_bridge.transport.whatsminer, asic_bridge.factory")
    assert "cryptography" not in loaded


def test_every_public_name_is_still_importable() -> None:
    for name in asic_bridge.__all__:
        assert getattr(asic_bridge, name) is not None, name
    from asic_bridge import MinerConfig, MinerData

    assert MinerConfig.__name__ == "MinerConfig" and MinerData.__name__ == "MinerData"


def test_aes_still_works_once_needed() -> None:
    from asic_bridge.transport.whatsminer import decrypt_v2, encrypt_v2

    key = bytes(range(32))
    assert decrypt_v2(key, encrypt_v2(key, {"cmd": "get_version"})) == {"cmd": "get_version"}
