"""SSHClient against a real asyncssh server on 127.0.0.1 that echoes the argv it received."""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import asyncssh
import pytest

from asic_bridge.errors import (
    AuthenticationError,
    MinerConnectionError,
    MinerTimeoutError,
    ResponseTooLargeError,
)
from asic_bridge.transport.ssh import SSHClient, build_command


class Stats:
    connections = 0
    commands: list[str] = []


class MinerSSHServer(asyncssh.SSHServer):
    def connection_made(self, conn: Any) -> None:
        Stats.connections += 1

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == "root" and password == "root-pw"


async def process(proc: Any) -> None:
    """The 'shell': split the command line like sh would and act on argv."""
    Stats.commands.append(proc.command)
    argv = shlex.split(proc.command)
    if argv[0] == "fail":
        proc.stderr.write("boom\n")
        proc.exit(3)
        return
    if argv[0] == "sleep":
        await asyncio.sleep(30)
    if argv[0] == "big":
        for _ in range(64):
            proc.stdout.write("z" * 65536)
            await proc.stdout.drain()
    proc.stdout.write(json.dumps(argv))
    proc.exit(0)


@pytest.fixture
async def ssh_port() -> AsyncIterator[int]:
    Stats.connections = 0
    Stats.commands = []
    key = asyncssh.generate_private_key("ssh-ed25519")
    acceptor = await asyncssh.create_server(
        MinerSSHServer,
        "127.0.0.1",
        0,
        server_host_keys=[key],
        process_factory=process,
        encoding="utf-8",
    )
    try:
        yield acceptor.get_port()
    finally:
        acceptor.close()
        await acceptor.wait_closed()


def test_build_command_quotes_and_validates() -> None:
    assert build_command(["echo", "a b", "$(reboot)", "it's"]) == (
        "echo 'a b' '$(reboot)' 'it'\"'\"'s'"
    )
    for bad in (["echo", "a\nreboot"], ["x\x00"], ["a\rb"], [], "echo hi", ["ok", 3]):
        with pytest.raises(ValueError):
            build_command(bad)  # type: ignore[arg-type]


async def test_run_argv_arrives_intact_and_connection_is_reused(ssh_port: int) -> None:
    client = SSHClient("127.0.0.1", ssh_port, username="root", password="root-pw", timeout=5)
    tricky = ["echo", "a b", "$(rm -rf /)", "it's", "; reboot", "`id`", "*", ""]
    status, out, err = await client.run(tricky)
    assert (status, err) == (0, "")
    assert json.loads(out) == tricky
    for i in range(3):
        assert json.loads((await client.run(["printf", str(i)]))[1]) == ["printf", str(i)]
    await client.aclose()
    assert Stats.connections == 1
    assert client.connections == 1
    # after aclose the next call connects again
    await client.run(["true"])
    await client.aclose()
    assert Stats.connections == 2


async def test_run_nonzero_exit_is_returned(ssh_port: int) -> None:
    client = SSHClient("127.0.0.1", ssh_port, username="root", password="root-pw")
    assert await client.run(["fail"]) == (3, "", "boom\n")
    await client.aclose()


async def test_invalid_argument_never_reaches_the_miner(ssh_port: int) -> None:
    client = SSHClient("127.0.0.1", ssh_port, username="root", password="root-pw")
    with pytest.raises(ValueError):
        await client.run(["miner", "fault_light", "on\nreboot"])
    assert Stats.commands == []
    assert Stats.connections == 0
    await client.aclose()


async def test_wrong_password(ssh_port: int) -> None:
    client = SSHClient("127.0.0.1", ssh_port, username="root", password="nope-secret")
    with pytest.raises(AuthenticationError) as info:
        await client.run(["true"])
    assert "nope-secret" not in str(info.value)
    assert info.value.ip == "127.0.0.1"
    await client.aclose()


async def test_hanging_command_times_out_and_connection_survives(ssh_port: int) -> None:
    client = SSHClient("127.0.0.1", ssh_port, username="root", password="root-pw")
    async with asyncio.timeout(20):  # bounds the test; not a speed assertion
        with pytest.raises(MinerTimeoutError) as info:
            await client.run(["sleep", "30"], timeout=0.5)
    assert info.value.command == "sleep"
    status, out, _ = await client.run(["echo", "ok"], timeout=5)
    assert status == 0 and json.loads(out) == ["echo", "ok"]
    await client.aclose()


async def test_output_cap(ssh_port: int) -> None:
    client = SSHClient(
        "127.0.0.1", ssh_port, username="root", password="root-pw", max_bytes=1024 * 1024
    )
    with pytest.raises(ResponseTooLargeError):
        await client.run(["big"], timeout=5)
    await client.aclose()


async def test_nothing_listening() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    client = SSHClient("127.0.0.1", port, username="root", password="x")
    with pytest.raises(MinerConnectionError):
        await client.run(["true"])


def test_import_starts_no_process_and_leaves_find_library_alone() -> None:
    """asyncssh's liboqs and libnettle probes (ldconfig, gcc, ld) are skipped at import;
    ctypes.util.find_library is the stdlib's again afterwards."""
    code = (
        "import ctypes.util, subprocess, sys\n"
        "original = ctypes.util.find_library\n"
        "started = []\n"
        "popen_init = subprocess.Popen.__init__\n"
        "def spy(self, *args, **kwargs):\n"
        "    started.append(args[0] if args else kwargs.get('args'))\n"
        "    popen_init(self, *args, **kwargs)\n"
        "subprocess.Popen.__init__ = spy\n"
        "import asic_bridge.transport.ssh\n"
        "assert 'asyncssh' in sys.modules\n"
        "assert ctypes.util.find_library is original, 'find_library left patched'\n"
        "print(repr(started))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
