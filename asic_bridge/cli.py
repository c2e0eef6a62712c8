"""The ``asic-bridge`` command line.

Every failure is one clear line on stderr and a non-zero exit: 2 for bad usage or input,
1 for a miner or network failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from asic_bridge import __version__
from asic_bridge.config import MinerConfig
from asic_bridge.data import MinerData
from asic_bridge.drivers.base import BaseMiner, UnknownMiner
from asic_bridge.drivers.firmware import load_firmware
from asic_bridge.errors import AsicBridgeError, ConfigError, UnsupportedError

EXIT_FAILURE = 1
EXIT_USAGE = 2
# A real miner's power settles over seconds after a new limit; `simulate` behaves the same.
DEFAULT_POWER_RAMP = 5.0

CONTROL_ACTIONS = {
    "reboot": "reboot",
    "restart-backend": "restart_backend",
    "stop": "stop_mining",
    "resume": "resume_mining",
    "light-on": "fault_light_on",
    "light-off": "fault_light_off",
    "power-limit": "set_power_limit",
    "upgrade-firmware": "upgrade_firmware",
}


class CLIError(Exception):
    """A user-facing failure: message and exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILURE):
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asic-bridge",
        description="Find, read and control Bitcoin ASIC miners; bridge them to MQTT.",
    )
    parser.add_argument("--version", action="version", version=f"asic-bridge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="run the MQTT bridge (Home Assistant discovery)")
    run.add_argument("-c", "--config", default="bridge.yaml", help="bridge config (YAML)")

    scan = sub.add_parser("scan", help="find miners on subnets, ranges or addresses")
    scan.add_argument(
        "targets", nargs="+", metavar="TARGET", help="10.0.0.0/24, 10.0.1-2.1-50 or 10.0.0.5"
    )
    scan.add_argument("--json", action="store_true", help="print a JSON list")

    data = sub.add_parser("data", help="read one miner's data")
    data.add_argument("host")
    data.add_argument("--json", action="store_true", help="print MinerData as JSON")

    control = sub.add_parser("control", help="run a control action on a miner")
    control.add_argument("host")
    control.add_argument(
        "action",
        choices=sorted(CONTROL_ACTIONS),
        metavar="ACTION",
        help=", ".join(sorted(CONTROL_ACTIONS)),
    )
    control.add_argument(
        "argument", nargs="?", help="watts for power-limit, the image file for upgrade-firmware"
    )
    control.add_argument(
        "--discard-settings",
        action="store_true",
        help="upgrade-firmware: reset the miner's settings (default: keep them)",
    )

    config = sub.add_parser("config", help="read or write a miner's configuration")
    config_sub = config.add_subparsers(dest="config_command", metavar="get|set", required=True)
    config_get = config_sub.add_parser("get", help="print the MinerConfig as JSON")
    config_get.add_argument("host")
    config_set = config_sub.add_parser("set", help="apply a MinerConfig from a YAML/JSON file")
    config_set.add_argument("host")
    config_set.add_argument("file")

    simulate = sub.add_parser("simulate", help="serve simulated miners on 127.x addresses")
    simulate.add_argument("--list-kinds", action="store_true", help="list simulator kinds")
    simulate.add_argument(
        "--miner",
        action="append",
        default=[],
        metavar="KIND@ADDRESS",
        help="serve KIND on ADDRESS (repeatable)",
    )
    simulate.add_argument(
        "--power-ramp",
        type=float,
        default=DEFAULT_POWER_RAMP,
        metavar="SECONDS",
        help=f"seconds power takes to follow a limit (default {DEFAULT_POWER_RAMP:g}; 0: at once)",
    )
    return parser


def run_event_loop(main: Coroutine[Any, Any, int]) -> int:
    """Run ``main`` on uvloop where it is installed (Linux, macOS), else on asyncio's loop.

    uvloop implements the same asyncio API in C: about 7 % less CPU per miner-poll for
    the bridge (bench/bridge_load.py); the library itself never requires it.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return run_event_loop(_dispatch(args))
    except CLIError as exc:
        print(f"asic-bridge: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace) -> int:
    handler = {
        "run": _cmd_run,
        "scan": _cmd_scan,
        "data": _cmd_data,
        "control": _cmd_control,
        "config": _cmd_config,
        "simulate": _cmd_simulate,
    }[args.command]
    try:
        return await handler(args)
    except UnsupportedError as exc:
        raise CLIError(str(exc)) from None
    except (ConfigError, ValueError) as exc:
        raise CLIError(str(exc), EXIT_USAGE) from None
    except AsicBridgeError as exc:
        raise CLIError(str(exc)) from None


# ---------------------------------------------------------------- run
async def _cmd_run(args: argparse.Namespace) -> int:
    from asic_bridge.bridge.app import run_bridge

    try:
        return await run_bridge(args.config)
    except OSError as exc:  # a port already taken (embedded broker, simulated miners)
        raise CLIError(f"cannot start the bridge: {exc.strerror or exc}") from None


# ---------------------------------------------------------------- miners
async def _connect(host: str) -> BaseMiner:
    from asic_bridge.factory import get_miner

    ip, ports = _parse_host(host)
    miner = await get_miner(ip, ports=ports)
    if miner is None:
        raise CLIError(f"{host}: no miner answers at this address")
    if isinstance(miner, UnknownMiner):
        seen = miner.identity.extra.get("evidence", {})
        raise CLIError(f"{host}: something answers but it is not a known miner ({seen})")
    return miner


def _parse_host(host: str) -> tuple[str, dict[str, int]]:
    """``10.0.0.5`` or ``10.0.0.5:http=8081,rpc=14028`` (per-host port overrides)."""
    import ipaddress

    ip, _, port_text = host.partition(":")
    try:
        ipaddress.IPv4Address(ip)
    except ValueError:
        raise CLIError(f"{host!r} is not an IPv4 address", EXIT_USAGE) from None
    ports: dict[str, int] = {}
    for item in filter(None, port_text.split(",")):
        name, _, value = item.partition("=")
        if not value.isdigit() or not 0 < int(value) < 65536:
            raise CLIError(f"bad port override {item!r} (expected name=port)", EXIT_USAGE)
        ports[name] = int(value)
    return ip, ports


async def _cmd_scan(args: argparse.Namespace) -> int:
    from asic_bridge.network import MinerNetwork

    try:
        network = MinerNetwork.from_list(args.targets)
    except ValueError as exc:
        raise CLIError(str(exc), EXIT_USAGE) from None
    show_progress = sys.stderr.isatty() and not args.json

    def progress(done: int, total: int, found: int) -> None:
        if show_progress:
            width = 30
            filled = int(width * done / total) if total else width
            bar = "#" * filled + "-" * (width - filled)
            print(f"\rscanning [{bar}] {done}/{total}  found {found}", end="", file=sys.stderr)

    miners = await network.scan(progress=progress)
    if show_progress:
        print(file=sys.stderr)
    readings = await asyncio.gather(*(_safe_data(m) for m in miners))
    rows = [_scan_row(m, d) for m, d in zip(miners, readings, strict=True)]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table(
            rows, ["ip", "mac", "make", "model", "firmware", "hashrate", "power", "status"]
        )
        print(f"{len(rows)} miner(s) found in {len(network)} address(es)")
    return 0


async def _safe_data(miner: BaseMiner) -> MinerData | None:
    try:
        return await miner.get_data(include=["hashrate", "wattage", "is_mining", "mac"])
    except AsicBridgeError:
        return None


def _scan_row(miner: BaseMiner, data: MinerData | None) -> dict[str, Any]:
    ident = miner.identity
    row: dict[str, Any] = {
        "ip": miner.ip,
        "mac": (data.mac if data else None) or ident.mac,
        "make": ident.make,
        "model": ident.model or ident.raw_model,
        "firmware": ident.firmware,
        "hashrate": None,
        "hashrate_unit": data.hashrate_unit if data else None,
        "power": None,
        "status": "unreachable",
    }
    if data is not None:
        row["hashrate"] = None if data.hashrate is None else round(data.hashrate, 2)
        row["power"] = data.wattage
        row["status"] = {True: "mining", False: "stopped", None: "unknown"}[data.is_mining]
    return row


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    def cell(value: Any) -> str:
        return "-" if value is None else str(value)

    widths = {c: max([len(c), *(len(cell(r.get(c))) for r in rows)]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(cell(row.get(c)).ljust(widths[c]) for c in columns))


async def _cmd_data(args: argparse.Namespace) -> int:
    miner = await _connect(args.host)
    data = await miner.get_data()
    if args.json:
        print(data.as_json(indent=2))
    else:
        print(format_summary(data))
    return 0


def format_summary(data: MinerData) -> str:
    """A readable multi-line summary of one MinerData."""
    unit = data.hashrate_unit

    def num(value: float | None, suffix: str = "", digits: int = 2) -> str:
        return "-" if value is None else f"{round(value, digits)}{suffix}"

    lines = [
        f"{data.make} {data.model} ({data.firmware}) at {data.ip}",
        f"  mac {data.mac or '-'}  hostname {data.hostname or '-'}  fw {data.fw_ver or '-'}",
        f"  mining {data.is_mining}  hashrate {num(data.hashrate, ' ' + unit)}"
        f" / expected {num(data.expected_hashrate, ' ' + unit)}",
        f"  power {num(data.wattage, ' W')}  limit {num(data.wattage_limit, ' W')}"
        f"  efficiency {num(data.efficiency_fract, ' J/' + unit.removesuffix('/s'))}",
        f"  uptime {num(data.uptime, ' s')}  fault light {data.fault_light}",
    ]
    for board in data.hashboards:
        lines.append(
            f"  board {board.slot}: {num(board.hashrate, ' ' + unit)}  chips {board.chips}"
            f"  temp {num(board.temp, ' °C', 1)}  chip {num(board.chip_temp, ' °C', 1)}"
        )
    if data.fans:
        lines.append("  fans " + ", ".join(num(f.speed, " rpm", 0) for f in data.fans))
    for pool in data.pools:
        state = "active" if pool.active else ("alive" if pool.alive else "dead")
        lines.append(
            f"  pool {pool.index}: {pool.url} ({state}) accepted {pool.accepted}"
            f" rejected {pool.rejected}"
        )
    for error in data.errors:
        lines.append(f"  error {error.error_code}: {error.error_message}")
    for field, reason in data.field_errors.items():
        lines.append(f"  (could not read {field}: {reason})")
    return "\n".join(lines)


async def _cmd_control(args: argparse.Namespace) -> int:
    method = CONTROL_ACTIONS[args.action]
    call_args: list[Any] = []
    if method == "set_power_limit":
        if args.argument is None or not args.argument.isdigit():
            raise CLIError("power-limit needs a whole number of watts, e.g. 3000", EXIT_USAGE)
        call_args.append(int(args.argument))
    elif method == "upgrade_firmware":
        if args.argument is None:
            raise CLIError("upgrade-firmware needs the firmware file", EXIT_USAGE)
        call_args.append(load_firmware(args.argument))  # a bad path fails before connecting
    elif args.argument is not None:
        raise CLIError(f"{args.action} takes no argument", EXIT_USAGE)
    miner = await _connect(args.host)
    if method == "upgrade_firmware":
        result = await miner.upgrade_firmware(*call_args, keep_settings=not args.discard_settings)
        print(f"{args.host}: upgrade-firmware ok (accepted; the miner flashes and reboots)")
        return 0
    result = await getattr(miner, method)(*call_args)
    print(f"{args.host}: {args.action} {'ok' if result is not False else 'failed'}")
    return 0 if result is not False else EXIT_FAILURE


async def _cmd_config(args: argparse.Namespace) -> int:
    if args.config_command == "get":
        miner = await _connect(args.host)
        config = await miner.get_config()
        print(json.dumps(config.as_dict(), indent=2))
        return 0
    config = load_config_file(args.file)
    miner = await _connect(args.host)
    await miner.send_config(config)
    print(f"{args.host}: configuration applied")
    return 0


def load_config_file(path: str) -> MinerConfig:
    """Read a MinerConfig from YAML or JSON; any problem is a ConfigError naming the key."""
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror}", EXIT_USAGE) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CLIError(f"{path} is not valid YAML/JSON: {exc}", EXIT_USAGE) from None
    return MinerConfig.from_dict(raw)


# ---------------------------------------------------------------- simulate
async def _cmd_simulate(args: argparse.Namespace) -> int:
    from asic_bridge import sim

    if args.list_kinds:
        for kind, make, model, firmware in sim.list_kinds():
            print(f"{kind}\t{make}\t{model}\t{firmware}")
        return 0
    if not args.miner:
        raise CLIError("give --miner KIND@ADDRESS (see --list-kinds)", EXIT_USAGE)
    if not 0 <= args.power_ramp <= 3600:
        raise CLIError("--power-ramp must be 0-3600 seconds", EXIT_USAGE)
    await sim.run_fleet(args.miner, power_ramp=args.power_ramp)
    return 0
