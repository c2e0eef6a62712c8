"""upgrade_firmware over real sockets against every simulated family that takes uploads.

Test images carry ``ASIC_BRIDGE_SIM_VERSION=<v>`` (see asic_bridge.sim.base): a simulator
that accepts one flashes, reboots and comes back reporting ``<v>``.  For each family: a good
image is installed and read back (get_data and a fresh identification); a file of the wrong
type is refused before anything is sent; a file only the firmware can judge (a cut archive,
a broken image) is refused by the simulator with its message, and the miner is unchanged; a
second upload while one runs is refused (by the driver's lock, and by the simulator).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import random
import tarfile
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from asic_bridge import sim
from asic_bridge.drivers.base import BaseMiner, Capability
from asic_bridge.drivers.firmware import FirmwareFile
from asic_bridge.errors import (
    BusyError,
    CommandError,
    ConfigError,
    MinerConnectionError,
    UnsupportedError,
)
from asic_bridge.factory import get_miner
from asic_bridge.sim.base import SimMiner

_hosts = itertools.count(1)


def mark(version: str) -> bytes:
    return f"ASIC_BRIDGE_SIM_VERSION={version}\n".encode()


def esp_image(version: str) -> bytes:
    """An ESP32 app image as ESP-IDF lays it out: image header (magic 0xE9), a segment
    header, then esp_app_desc_t (magic 0xABCD5432) at offset 32."""
    header = bytes([0xE9, 1, 2, 0x20]) + b"\x00" * 20
    segment = b"\x20\x00\x00\x3c" + (256).to_bytes(4, "little")
    desc = (0xABCD5432).to_bytes(4, "little") + b"\x00" * 12 + version.encode().ljust(32, b"\0")
    return header + segment + desc + mark(version) + b"\xff" * 200


def tar_image(version: str, member: str = "runme.sh") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        payload = b"#!/bin/sh\n" + mark(version)
        info = tarfile.TarInfo(member)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return out.getvalue()


def targz_image(version: str) -> bytes:
    import gzip

    return gzip.compress(tar_image(version))


def zip_image(version: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("update/version.txt", mark(version))
    return out.getvalue()


@dataclass
class Family:
    kind: str
    name: str  # the upload file name
    good: Callable[[str], bytes]
    wrong: tuple[str, bytes]  # (name, bytes) the driver refuses before sending
    broken: tuple[str, bytes]  # passes the driver's checks, the firmware refuses it
    refusal: str  # a word of the firmware's refusal message
    busy: type[Exception] = CommandError  # how the firmware refuses a second upload


FAMILIES = [
    Family(
        "bitaxe_gamma",
        "esp-miner.bin",
        esp_image,
        ("esp-miner.bin", b"PK\x03\x04 not an ESP32 image" * 4),
        ("esp-miner.bin", esp_image("v9")[:30]),
        "Validation",
        # one httpd task: the second upload waits behind the first until the restart drops it
        MinerConnectionError,
    ),
    Family(
        "epic_s19jpro",
        "update.zip",
        zip_image,
        ("firmware.tar.gz", targz_image("9.9")),
        ("update.zip", zip_image("9.9")[:40]),
        "BadUpdateFile",
    ),
    Family(
        "vnish_s19jpro",
        "Antminer-S19jPro-vnish.tar.gz",
        targz_image,
        ("esp-miner.bin", esp_image("9.9")),
        ("Antminer-S19jPro-vnish.tar.gz", targz_image("9.9")[:60]),
        "cannot unpack",
    ),
    Family(
        "braiins_s9",
        "firmware_2022-09-27-0-26ba61b9-22.08.1-plus_arm_cortex-a9_neon.tar",
        tar_image,
        ("firmware.tar.gz", targz_image("9.9")),
        ("firmware.tar", tar_image("9.9")[:700]),
        "supported format",
        MinerConnectionError,  # LuCI kills uhttpd and dropbear before it flashes
    ),
    Family(
        "braiins_s19",
        "braiins-os-plus-am2-s19.tar",
        tar_image,
        ("update.zip", zip_image("9.9")),
        ("braiins-os-plus-am2-s19.tar", tar_image("9.9")[:700]),
        "not a sysupgrade tar",
    ),
    Family(
        "antminer_s19jpro",
        "Antminer-S19j-Pro-release-202307.tar.gz",
        targz_image,
        ("Antminer-S19j-Pro.zip", zip_image("9.9")),
        ("Antminer-S19j-Pro.tar.gz", targz_image("9.9")[:50]),
        "Invalid firmware file",
    ),
    Family(
        "antminer_s17pro",
        "Antminer-S17-Pro-release-202010.tar.gz",
        targz_image,
        ("Antminer-S17-Pro.bin", esp_image("9.9")),
        ("Antminer-S17-Pro.tar.gz", targz_image("9.9")[:50]),
        "System upgrade failed",
    ),
    Family(
        "whatsminer_m30s",
        "upgrade-h6-20240911.17.REL.tar.gz",
        targz_image,
        ("update.zip", zip_image("9.9")),
        ("upgrade-h6.tar.gz", targz_image("9.9")[:50]),
        "invalid image",
    ),
    Family(
        "whatsminer_m60",
        "upgrade-h616-20251209.16.Rel2.tar.gz",
        targz_image,
        ("update.zip", zip_image("9.9")),
        ("upgrade-h616.tar.gz", targz_image("9.9")[:50]),
        "invalid image",
    ),
]


@contextlib.asynccontextmanager
async def running(kind: str) -> AsyncIterator[SimMiner]:
    s = sim.create(f"{kind}@127.31.1.{next(_hosts)}")
    s.state.jitter = 0.0
    s.flash_time = 0.2
    s.flash_downtime = 0.3
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def identify(s: SimMiner) -> BaseMiner:
    miner = await get_miner(s.address, use_cache=False)
    assert isinstance(miner, BaseMiner)
    return miner


async def fw_ver(miner: BaseMiner) -> str | None:
    data = await miner.get_data(include=["fw_ver"])
    return data.fw_ver


async def wait_version(miner: BaseMiner, wanted: str) -> str | None:
    """Poll until the rebooted miner reports ``wanted`` (bounded; returns what it saw)."""
    seen: str | None = None
    for _ in range(100):
        miner.identity.fw_ver = None
        with contextlib.suppress(Exception):
            seen = await fw_ver(miner)
            if seen is not None and wanted in seen:
                return seen
        await asyncio.sleep(0.1)
    return seen


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.kind)
async def test_a_good_image_is_installed_and_reported(family: Family, tmp_path: Path) -> None:
    path = tmp_path / family.name
    path.write_bytes(family.good("9.8.7"))
    async with running(family.kind) as s:
        miner = await identify(s)
        assert miner.supports(Capability.FIRMWARE_UPGRADE)
        before = await fw_ver(miner)
        assert before is not None and "9.8.7" not in before
        assert await miner.upgrade_firmware(path) is True
        seen = await wait_version(miner, "9.8.7")
        assert seen is not None and "9.8.7" in seen
        again = await identify(s)
        assert "9.8.7" in (again.identity.fw_ver or await fw_ver(again) or "")
        await miner.aclose()
        await again.aclose()


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.kind)
async def test_a_wrong_file_is_refused_before_upload(family: Family) -> None:
    async with running(family.kind) as s:
        miner = await identify(s)
        before = await fw_ver(miner)
        s.reset_counters()
        name, data = family.wrong
        with pytest.raises(ConfigError, match="firmware"):
            await miner.upgrade_firmware(FirmwareFile(name, data))
        assert sum(c.requests for c in s.counters.values()) == 0, "nothing may be sent"
        assert not s.upgrading
        assert await fw_ver(miner) == before
        await miner.aclose()


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.kind)
async def test_a_broken_image_is_refused_by_the_firmware(family: Family) -> None:
    async with running(family.kind) as s:
        miner = await identify(s)
        before = await fw_ver(miner)
        uptime = s.state.uptime
        with pytest.raises(CommandError, match=family.refusal):
            await miner.upgrade_firmware(FirmwareFile(*family.broken))
        assert not s.upgrading
        assert s.installed_version is None
        await asyncio.sleep(s.flash_time + 0.1)
        assert await fw_ver(miner) == before
        assert s.state.uptime >= uptime, "a refused image must not reboot the miner"
        # and the slot is free again: a good image goes in afterwards
        assert await miner.upgrade_firmware(FirmwareFile(family.name, family.good("9.8.8")))
        assert "9.8.8" in (await wait_version(miner, "9.8.8") or "")
        await miner.aclose()


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.kind)
async def test_one_update_at_a_time(family: Family) -> None:
    async with running(family.kind) as s:
        s.flash_time = 2.0  # long enough for a second client to arrive while it flashes
        miner = await identify(s)
        first, second = await asyncio.gather(
            miner.upgrade_firmware(FirmwareFile(family.name, family.good("9.1.1"))),
            miner.upgrade_firmware(FirmwareFile(family.name, family.good("9.2.2"))),
            return_exceptions=True,
        )
        assert first is True
        assert isinstance(second, BusyError), second
        # another client (its own lock) while the miner flashes: the firmware refuses it
        await asyncio.sleep(0.2)
        other = await identify(s)
        with pytest.raises(family.busy):
            await other.upgrade_firmware(FirmwareFile(family.name, family.good("9.3.3")))
        seen = await wait_version(miner, "9.1.1")
        assert seen is not None and "9.1.1" in seen
        await miner.aclose()
        await other.aclose()


UNSUPPORTED = [
    "cgminer",
    "luxos_s19jpro",
    "avalon_1246",
    "hiveon_s19jpro",
    "auradine_at2860",
    "marafw_s19xp",
    "goldshell_kdmax",
    "iceriver_ks3m",
    "innosilicon_t3hplus",
    "elphapex_dg1plus",
    "hammer_d10",
]


@pytest.mark.parametrize("kind", UNSUPPORTED)
async def test_other_families_say_unsupported(kind: str) -> None:
    async with running(kind) as s:
        miner = await identify(s)
        assert not miner.supports(Capability.FIRMWARE_UPGRADE)
        with pytest.raises(UnsupportedError, match="upgrade_firmware"):
            await miner.upgrade_firmware(b"anything")
        await miner.aclose()


async def test_a_missing_file_is_a_config_error() -> None:
    async with running("bitaxe_gamma") as s:
        miner = await identify(s)
        with pytest.raises(ConfigError, match="cannot read"):
            await miner.upgrade_firmware("/nonexistent/esp-miner.bin")
        with pytest.raises(ConfigError, match="empty"):
            await miner.upgrade_firmware(b"")
        await miner.aclose()


async def test_a_large_bos_plus_image_streams_past_the_http2_window() -> None:
    """A real image is tens of MB: the gRPC stream must wait for WINDOW_UPDATEs (the default
    window is 64 KiB) and still arrive whole (the simulator checks size and SHA-256)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        payload = mark("9.7.7") + random.Random(7).randbytes(3 * 1024 * 1024)
        info = tarfile.TarInfo("sysupgrade-am2/root")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    async with running("braiins_s19") as s:
        miner = await identify(s)
        assert await miner.upgrade_firmware(FirmwareFile("bos.tar", out.getvalue())) is True
        assert "9.7.7" in (await wait_version(miner, "9.7.7") or "")
        await miner.aclose()


@pytest.mark.parametrize(("keep", "expected"), [(True, True), (False, False)])
async def test_antminer_keep_settings_picks_the_cgi(keep: bool, expected: bool) -> None:
    """keep_settings=False goes to upgrade_clear.cgi (settings reset), else upgrade.cgi."""
    from asic_bridge.sim.antminer import AntminerModernSim

    async with running("antminer_s19jpro") as s:
        assert isinstance(s, AntminerModernSim)
        miner = await identify(s)
        image = FirmwareFile("Antminer-S19j-Pro.tar.gz", targz_image("9.4.4"))
        assert await miner.upgrade_firmware(image, keep_settings=keep) is True
        assert s.upgrade_keep_settings is expected
        path = "POST /cgi-bin/upgrade.cgi" if keep else "POST /cgi-bin/upgrade_clear.cgi"
        assert s.counters["http"].by_key[path] == 1
        await miner.aclose()


# ---------------------------------------------------------------- pure pieces
def test_multipart_round_trip_keeps_binary_bytes() -> None:
    """What the drivers send is what the simulators' parser reads back, byte for byte
    (CRLF and boundary-like runs inside the image included)."""
    from asic_bridge.drivers.firmware import multipart
    from asic_bridge.sim.http_server import Request

    image = b"\r\n--\r\n\x00\xff" * 50 + b"------asicbridge"
    body, content_type = multipart(
        {"checksum": "abc", "keepsettings": "true"}, {"update.zip": ('a"b.zip', image, "x/y")}
    )
    request = Request("POST", "/", "/", "HTTP/1.1", {"content-type": content_type}, body)
    form = request.multipart()
    assert form["checksum"] == (None, b"abc")
    assert form["keepsettings"] == (None, b"true")
    assert form["update.zip"] == ("a%22b.zip", image)
    truncated = Request("POST", "/", "/", "HTTP/1.1", {"content-type": content_type}, body[:-8])
    with pytest.raises(ValueError, match="truncated"):
        truncated.multipart()


def test_load_firmware(tmp_path: Path) -> None:
    from asic_bridge.drivers.firmware import load_firmware

    path = tmp_path / "Antminer-S19.tar.gz"
    path.write_bytes(b"\x1f\x8b\x08rest")
    loaded = load_firmware(path)
    assert (loaded.name, loaded.suffix, loaded.size) == ("Antminer-S19.tar.gz", ".tar.gz", 7)
    assert load_firmware(b"\xe9abc").name == "firmware.bin"
    with pytest.raises(ConfigError, match="not a regular file"):
        load_firmware(tmp_path)
    with pytest.raises(ConfigError, match="path or bytes"):
        load_firmware(12)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="plain file name"):
        load_firmware(b"x", name="../etc/passwd")


async def test_url_and_version_are_refused() -> None:
    async with running("bitaxe_gamma") as s:
        miner = await identify(s)
        with pytest.raises(ConfigError, match="not a url"):
            await miner.upgrade_firmware(url="http://example.invalid/fw.bin")
        with pytest.raises(ConfigError, match="needs the firmware"):
            await miner.upgrade_firmware()
        await miner.aclose()


async def test_esp_miner_www_image_goes_to_otawww_without_a_reboot() -> None:
    """www.bin (the AxeOS web UI, a SPIFFS image without magic) goes to /api/system/OTAWWW:
    the board answers "WWW update complete", keeps running, and reports the new UI version;
    a www.bin over the 3 MiB partition is refused before upload."""
    async with running("bitaxe_gamma") as s:
        miner = await identify(s)
        uptime = s.state.uptime
        www = FirmwareFile("www.bin", b"\x00\x01" * 100 + mark("v9.5.5-ui"))
        assert await miner.upgrade_firmware(www) is True
        assert s.counters["http"].by_key["POST /api/system/OTAWWW"] == 1
        data = await miner.get_data(include=["api_ver", "uptime"])
        assert data.api_ver == "v9.5.5-ui"  # axeOSVersion
        assert not s.upgrading and s.state.uptime >= uptime
        with pytest.raises(ConfigError, match="3 MiB"):
            await miner.upgrade_firmware(FirmwareFile("www.bin", b"\x00" * (3 * 1024 * 1024 + 1)))
        await miner.aclose()


async def test_antminer_signed_bmu_is_sent_as_it_is() -> None:
    """X19-era images are Bitmain-signed .bmu files (opaque here): the driver sends them by
    name, the sim (which cannot check a signature) installs them."""
    async with running("antminer_s21") as s:
        miner = await identify(s)
        image = FirmwareFile("Antminer-S21-merge-release-20250101.bmu", b"BMU\x00" + mark("9.6.6"))
        assert await miner.upgrade_firmware(image) is True
        assert "9.6.6" in (await wait_version(miner, "9.6.6") or "")
        await miner.aclose()
