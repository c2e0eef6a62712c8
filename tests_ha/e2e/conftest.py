"""End to end: a real mosquitto (docker/mosquitto config), simulated miners, the real bridge
daemon as a subprocess, and Home Assistant's real MQTT integration connected to the broker.

Nothing here is mocked: the paho client is real (so the parent conftest's mocked-socket
fixture is replaced by a no-op), and the waits are real.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import sys
import time

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.asic_bridge import const

ROOT = Path(__file__).resolve().parents[2]
DAEMON_BIN = Path(os.environ.get("ASIC_BRIDGE_BIN", ROOT / ".venv" / "bin" / "asic-bridge"))
BRIDGE_PASSWORD = "bridge-e2e-secret"
HA_PASSWORD = "ha-e2e-secret"


@pytest.fixture(autouse=True)
async def close_mqtt_socket() -> None:
    """The MQTT client is real here: nothing to fake."""


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real waits (the parent conftest shortens them for mocked answers)."""
    monkeypatch.setitem(const.TIMEOUTS, "command", 30.0)
    monkeypatch.setitem(const.TIMEOUTS, "bridge_info", 10.0)
    monkeypatch.setitem(const.OFFLINE_GRACE_SECONDS, "value", 0.0)


def _free_port() -> int:
    # pytest-socket blocks sockets in this process: ask a child process.
    code = "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
    return int(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )


def _wait_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
    code = (
        "import socket, sys, time\n"
        f"end = time.time() + {timeout}\n"
        "while time.time() < end:\n"
        "    try:\n"
        f"        socket.create_connection(('{host}', {port}), 0.2).close(); sys.exit(0)\n"
        "    except OSError:\n"
        "        time.sleep(0.05)\n"
        "sys.exit(1)\n"
    )
    if subprocess.run([sys.executable, "-c", code], check=False).returncode != 0:
        raise RuntimeError(f"nothing listens on {host}:{port}")


class Process:
    """A child process with its output in a file, stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, name: str, args: list[str], log: Path) -> None:
        self.name, self.args, self.log = name, args, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        handle = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.args, stdout=handle, stderr=subprocess.STDOUT, cwd=self.log.parent
        )
        handle.close()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    """mosquitto with docker/mosquitto's config and ACL: authentication, no anonymous."""
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    passwd_tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    if not Path(mosquitto).exists():
        pytest.fail("mosquitto is not installed (scripts/test_ha installs it)")
    port = _free_port()
    work = tmp_path / "mosquitto"
    (work / "data").mkdir(parents=True)
    passwd = work / "passwd"
    subprocess.run(
        [passwd_tool, "-c", "-b", str(passwd), "asic_bridge", BRIDGE_PASSWORD], check=True
    )
    subprocess.run([passwd_tool, "-b", str(passwd), "homeassistant", HA_PASSWORD], check=True)
    shutil.copy(ROOT / "docker" / "mosquitto" / "acl", work / "acl")
    conf = (ROOT / "docker" / "mosquitto" / "mosquitto.conf").read_text()
    conf = conf.replace("/mosquitto/auth/passwd", str(passwd))
    conf = conf.replace("/mosquitto/config/acl", str(work / "acl"))
    conf = conf.replace("/mosquitto/data/", f"{work / 'data'}/")
    conf, count = re.subn(r"(?m)^listener 1883$", f"listener {port} 127.0.0.1", conf)
    assert count == 1, "docker/mosquitto/mosquitto.conf: expected 'listener 1883'"
    if os.geteuid() == 0:
        conf += "\nuser root\n"  # keep access to the test's private temp dir
    (work / "mosquitto.conf").write_text(conf)
    process = Process(
        "mosquitto", [mosquitto, "-c", str(work / "mosquitto.conf")], work / "mosquitto.log"
    )
    process.start()
    try:
        _wait_port(port)
        yield port
    finally:
        process.stop()


def start_sim(tmp_path: Path, spec: str) -> tuple[Process, dict[str, int]]:
    """One simulated miner in its own process (so it can be taken away); its ports."""
    if not DAEMON_BIN.exists():
        pytest.fail(f"{DAEMON_BIN} is missing: run scripts/setup")
    kind, _, address = spec.partition("@")
    process = Process(
        kind, [str(DAEMON_BIN), "simulate", "--miner", spec], tmp_path / f"sim-{address}.log"
    )
    process.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for line in process.output().splitlines():
            fields = line.split("\t")
            if len(fields) == 3 and fields[1] == address:
                ports = dict(item.split("=", 1) for item in fields[2].split())
                return process, {name: int(value) for name, value in ports.items()}
        if process.proc is not None and process.proc.poll() is not None:
            break
        time.sleep(0.05)
    process.stop()
    raise RuntimeError(f"simulator {spec} did not start:\n{process.output()}")


def add_mqtt_entry(hass: HomeAssistant, broker: int) -> MockConfigEntry:
    """HA's MQTT integration, logging in to the test broker as ``homeassistant``."""
    entry = MockConfigEntry(
        domain=mqtt.DOMAIN,
        title="MQTT",
        data={
            "broker": "127.0.0.1",
            "port": broker,
            "username": "homeassistant",
            "password": HA_PASSWORD,
        },
        version=1,
        minor_version=2,
    )
    entry.add_to_hass(hass)
    return entry


@contextmanager
def running_sims(
    tmp_path: Path, specs: tuple[str, ...]
) -> Iterator[dict[str, tuple[Process, dict[str, int]]]]:
    """Simulated miners, one process each, stopped on the way out."""
    started: dict[str, tuple[Process, dict[str, int]]] = {}
    try:
        for spec in specs:
            started[spec] = start_sim(tmp_path, spec)
        yield started
    finally:
        for process, _ in started.values():
            process.stop()


async def unload_all(hass: HomeAssistant, mqtt_entry: MockConfigEntry) -> None:
    """Unload our entries, then MQTT (its client disconnects from the test broker)."""
    for entry in hass.config_entries.async_entries(const.DOMAIN):
        await hass.config_entries.async_unload(entry.entry_id)
    await hass.config_entries.async_unload(mqtt_entry.entry_id)
    await hass.async_block_till_done()
