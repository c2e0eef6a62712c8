"""The command line: every failure is one clear line and a non-zero exit."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from asic_bridge import cli


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asic_bridge", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_help_lists_every_subcommand() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    for command in ("run", "scan", "data", "control", "config", "simulate"):
        assert command in out.stdout


def test_list_kinds_format() -> None:
    out = run_cli("simulate", "--list-kinds")
    assert out.returncode == 0
    lines = out.stdout.strip().splitlines()
    assert lines, "at least one simulator kind"
    for line in lines:
        kind, make, model, firmware = line.split("\t")
        assert kind and make and model and firmware


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "not-an-ip"], "is not an IPv4 address"),
        (["control", "127.0.0.1", "power-limit"], "power-limit needs a whole number"),
        (["control", "127.0.0.1", "power-limit", "lots"], "power-limit needs a whole number"),
        (["control", "127.0.0.1", "reboot", "now"], "reboot takes no argument"),
        (["control", "127.0.0.1", "upgrade-firmware"], "upgrade-firmware needs the firmware"),
        (["control", "127.0.0.1", "upgrade-firmware", "/nonexistent.bin"], "cannot read"),
        (["data", "127.0.0.1:http=99999"], "bad port override"),
        (["scan", "10.0.0.0/33"], "bad subnet"),
        (["scan", "10.0.0.1-300"], "bad address range"),
        (["simulate"], "give --miner"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    out = run_cli(*args)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1  # one clear line, no traceback


def test_unknown_action_rejected_by_argparse() -> None:
    out = run_cli("control", "127.0.0.1", "explode")
    assert out.returncode == 2
    assert "invalid choice" in out.stderr


def test_unreachable_host_exits_1(tmp_path: Path) -> None:
    # 127.0.0.1 on the standard miner ports: nothing listens in the test environment
    # except what tests start, and they use other 127.x addresses.
    out = run_cli("data", "127.200.0.1")
    assert out.returncode == 1
    assert "no miner answers" in out.stderr


def test_run_with_bad_config_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bridge.yaml"
    config.write_text("mqtt:\n  url: ftp://nowhere\nminers:\n  poll_interval: -1\n")
    out = run_cli("run", "-c", str(config))
    assert out.returncode == 2
    assert "mqtt.url" in out.stderr
    assert "miners.poll_interval" in out.stderr


def test_run_with_missing_config(tmp_path: Path) -> None:
    out = run_cli("run", "-c", str(tmp_path / "nope.yaml"))
    assert out.returncode == 2
    assert "does not exist" in out.stderr


def test_config_set_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text("fan_mode:\n  mode: turbo\n")
    out = run_cli("config", "set", "127.200.0.1", str(bad))
    assert out.returncode == 2
    assert "fan_mode" in out.stderr


def test_summary_formatting() -> None:
    from asic_bridge.data import Fan, HashBoard, MinerData

    data = MinerData(
        "10.0.0.5",
        make="AntMiner",
        model="S19j Pro",
        firmware="Stock",
        hashrate=104.2,
        wattage=3050,
        hashboards=[HashBoard(slot=0, hashrate=34.7, chips=126, temp=61)],
        fans=[Fan(speed=5400)],
        field_errors={"pools": "timeout"},
    )
    text = cli.format_summary(data)
    assert "AntMiner S19j Pro (Stock) at 10.0.0.5" in text
    assert "104.2 TH/s" in text
    assert "board 0: 34.7 TH/s" in text
    assert "could not read pools: timeout" in text


# ---------------------------------------------------------------- against simulated miners
@pytest.fixture(scope="module")
def fleet() -> Iterator[list[str]]:
    """Two simulated miners served by ``asic-bridge simulate`` in its own process."""
    specs = ["antminer_s19jpro@127.33.0.1", "whatsminer_m50@127.33.0.2"]
    args = [arg for spec in specs for arg in ("--miner", spec)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "asic_bridge", "simulate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for _ in specs:  # one line per miner once it listens
            assert proc.stdout.readline(), proc.stderr.read() if proc.stderr else ""
        yield ["127.33.0.1", "127.33.0.2"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def test_scan_json(fleet: list[str]) -> None:
    out = run_cli("scan", "127.33.0.0/29", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["ip"] for r in rows] == fleet
    assert [(r["make"], r["model"]) for r in rows] == [
        ("AntMiner", "S19j Pro"),
        ("WhatsMiner", "M50 VH50"),
    ]
    for row in rows:
        assert row["mac"] and row["firmware"] == "Stock"
        assert row["hashrate"] > 0 and row["status"] == "mining"


def test_scan_table(fleet: list[str]) -> None:
    out = run_cli("scan", "127.33.0.1-2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].split()[:4] == ["IP", "MAC", "MAKE", "MODEL"]
    assert "2 miner(s) found in 2 address(es)" in out.stdout


def test_data_summary_and_json(fleet: list[str]) -> None:
    out = run_cli("data", fleet[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"WhatsMiner M50 VH50 (Stock) at {fleet[1]}")
    out = run_cli("data", fleet[1], "--json")
    data = json.loads(out.stdout)
    assert data["ip"] == fleet[1] and data["hashrate_unit"] == "TH/s"
    assert data["wattage"] > 0 and data["field_errors"] == {}


def test_control_light_and_power(fleet: list[str]) -> None:
    out = run_cli("control", fleet[0], "light-on")
    assert (out.returncode, out.stdout.strip()) == (0, f"{fleet[0]}: light-on ok")
    assert json.loads(run_cli("data", fleet[0], "--json").stdout)["fault_light"] is True
    run_cli("control", fleet[0], "light-off")
    out = run_cli("control", fleet[1], "power-limit", "3000")
    assert out.returncode == 0, out.stderr
    assert json.loads(run_cli("data", fleet[1], "--json").stdout)["wattage_limit"] == 3000


def test_unsupported_control_exits_1(fleet: list[str]) -> None:
    out = run_cli("control", fleet[0], "power-limit", "3000")  # stock Antminer: no watt target
    assert out.returncode == 1
    assert "not supported by AntMiner Stock" in out.stderr


def test_config_get_then_set(fleet: list[str], tmp_path: Path) -> None:
    out = run_cli("config", "get", fleet[0])
    assert out.returncode == 0, out.stderr
    config = json.loads(out.stdout)
    assert config["pools"]["groups"][0]["pools"]
    config["pools"]["groups"][0]["pools"][0]["user"] = "cli_test.worker"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    out = run_cli("config", "set", fleet[0], str(path), timeout=90)
    assert out.returncode == 0, out.stderr
    again = json.loads(run_cli("config", "get", fleet[0]).stdout)
    assert again["pools"]["groups"][0]["pools"][0]["user"] == "cli_test.worker"


def test_run_with_a_taken_port_is_one_clear_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "bridge.yaml"
        config.write_text(
            f"mqtt:\n  url: embedded\n  embedded:\n    port: {port}\n"
            f"state_dir: {tmp_path / 'state'}\n"
        )
        out = run_cli("run", "-c", str(config))
    assert out.returncode == 1
    assert out.stderr.startswith("asic-bridge: cannot start the bridge:")
    assert len(out.stderr.strip().splitlines()) == 1


def test_upgrade_firmware_wrong_file_exits_2(fleet: list[str], tmp_path: Path) -> None:
    image = tmp_path / "Antminer-S19j-Pro.zip"
    image.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    out = run_cli("control", fleet[0], "upgrade-firmware", str(image))
    assert out.returncode == 2, out.stderr
    assert "is not Antminer firmware" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_upgrade_firmware_installs_and_reports(tmp_path: Path) -> None:
    """A BitAxe in its own simulator process: the OTA image goes in, the board comes back
    reporting the image's version."""
    import time

    header = bytes([0xE9, 1, 2, 0x20]) + b"\x00" * 20 + b"\x20\x00\x00\x3c\x00\x01\x00\x00"
    desc = (0xABCD5432).to_bytes(4, "little") + b"\x00" * 60
    image = tmp_path / "esp-miner.bin"
    image.write_bytes(header + desc + b"ASIC_BRIDGE_SIM_VERSION=v9.9.1\n" + b"\xff" * 64)
    proc = subprocess.Popen(
        [sys.executable, "-m", "asic_bridge", "simulate", "--miner", "bitaxe_gamma@127.33.0.9"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline()
        out = run_cli("control", "127.33.0.9", "upgrade-firmware", str(image))
        assert (out.returncode, out.stdout.split(":")[0]) == (0, "127.33.0.9"), out.stderr
        version = None
        for _ in range(60):
            reading = run_cli("data", "127.33.0.9", "--json")
            if reading.returncode == 0:
                version = json.loads(reading.stdout)["fw_ver"]
                if version == "v9.9.1":
                    break
            time.sleep(0.2)
        assert version == "v9.9.1"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
