"""Issue #19 items 9 and 10: config errors that cannot work stop the start, secrets in URLs
are masked whole, and third-party loggers stay quiet at ``log_level: debug``."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import hpack
import pytest

from asic_bridge.bridge.app import Bridge
from asic_bridge.bridge.config import parse_config
from asic_bridge.bridge.logs import THIRD_PARTY, configure_logging
from asic_bridge.errors import ConfigError

SECRET = "s3cr@t/pa ss@w0rd"
_CLI = "import sys; from asic_bridge.cli import main; sys.exit(main())"


def _run(tmp_path: Path, yaml_text: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "bridge.yaml"
    config.write_text(yaml_text)
    return subprocess.run(
        [sys.executable, "-c", _CLI, "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("content", "reason"), [(None, "does not exist"), ("not a certificate\n", "cannot be loaded")]
)
def test_bad_ca_certs_is_a_start_error_naming_the_key(
    tmp_path: Path, content: str | None, reason: str
) -> None:
    ca = tmp_path / "ca.pem"
    if content is not None:
        ca.write_text(content)
    result = _run(
        tmp_path,
        f"mqtt:\n  url: mqtts://127.0.0.1:1\n  tls: {{ca_certs: {ca}}}\n"
        f"state_dir: {tmp_path}/state\n",
    )
    assert result.returncode == 2, result.stderr
    assert "mqtt.tls.ca_certs" in result.stderr
    assert reason in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_client_certificate_names_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"mqtt\.tls\.certfile"):
        parse_config({"mqtt": {"url": "mqtts://h", "tls": {"certfile": str(tmp_path / "x")}}})


def test_a_working_tls_config_builds_its_context(tmp_path: Path) -> None:
    config = parse_config(
        {"mqtt": {"url": "mqtts://h", "tls": {"insecure": True}}, "state_dir": str(tmp_path)}
    )
    assert Bridge(config).mqtt.tls_context is not None


@pytest.mark.parametrize(
    "url",
    [
        f"mqtt://user:{SECRET}@host:99999",
        f"mqtts://user:{SECRET}@host:bad",
        f"mqtt://us@er:{SECRET}@host:0x",
        f"ftp://user:{SECRET}@host",
    ],
)
def test_broker_password_with_at_signs_is_masked_whole(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"mqtt": {"url": url}})
    message = str(caught.value)
    assert "mqtt.url" in message
    for piece in ("s3cr", "pa ss", "w0rd", "@t/"):
        assert piece not in message, message


def test_password_with_at_sign_in_a_section_error_is_masked() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"mqtt": {"url": f"mqtt://u:{SECRET}@host", "bogus": 1}})
    assert "bogus" in str(caught.value)
    assert "w0rd" not in str(caught.value)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Every record reaching the root logger; logger levels restored afterwards."""
    names = ["", "asic_bridge", *THIRD_PARTY]
    saved = {name: logging.getLogger(name).level for name in names}
    seen: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = seen.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    try:
        yield seen
    finally:
        logging.getLogger().removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _hpack_round_trip() -> None:
    headers = [(":method", "POST"), (":path", "/braiins.bos.v1.MinerService/GetMinerDetails")]
    hpack.Decoder().decode(hpack.Encoder().encode(headers))


def test_debug_keeps_hpack_quiet_but_our_debug_lines_flow(
    records: list[logging.LogRecord],
) -> None:
    config = parse_config({"log_level": "debug"})
    configure_logging(config.log_level, config.log_levels)
    _hpack_round_trip()
    logging.getLogger("asic_bridge.bridge").debug("ours")
    assert [r.name for r in records] == ["asic_bridge.bridge"]


def test_log_levels_key_turns_a_third_party_logger_up(records: list[logging.LogRecord]) -> None:
    config = parse_config({"log_level": "info", "log_levels": {"hpack": "debug"}})
    configure_logging(config.log_level, config.log_levels)
    _hpack_round_trip()
    assert any(r.name.startswith("hpack") for r in records)


def test_log_levels_values_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"log_levels\.hpack"):
        parse_config({"log_levels": {"hpack": "loud"}})
