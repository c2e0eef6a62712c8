"""Firmware files for ``upgrade_firmware``: loading, the format checks vendors make, uploads.

A driver checks what its firmware's updater would check (an archive type, an image magic, a
size) *before* sending anything, so a wrong file is refused with a clear ConfigError and the
miner is never touched.  The vendor's own answer to an upload is parsed in the driver.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from asic_bridge.errors import ConfigError

MAX_FIRMWARE_BYTES = 512 * 1024 * 1024
"""No miner firmware comes near this; a bigger file is a mistake, refused before reading."""

UPLOAD_TIMEOUT = 600.0
"""Seconds an upload may take (a 100 MB image over a slow farm link), instead of the
``api_function_timeout`` meant for one poll."""

FirmwareSource = str | os.PathLike[str] | bytes | bytearray | memoryview


@dataclass(frozen=True)
class FirmwareFile:
    """The bytes of one firmware image and the file name it travels under."""

    name: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def suffix(self) -> str:
        """The lower-case extension(s) that name the format: ``.tar.gz``, ``.bin`` ..."""
        lower = self.name.lower()
        for double in (".tar.gz", ".tar.bz2", ".tar.xz"):
            if lower.endswith(double):
                return double
        return Path(lower).suffix

    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def describe(self) -> str:
        return f"{self.name} ({self.size} bytes)"


def load_firmware(file: FirmwareSource | FirmwareFile, name: str | None = None) -> FirmwareFile:
    """A path (read here) or the image's bytes; ``name`` overrides the upload file name.

    Bytes without a name travel as ``firmware.bin``; checks that need a name then rely on the
    content alone.
    """
    if isinstance(file, FirmwareFile):
        return file if name is None else FirmwareFile(name, file.data)
    if isinstance(file, (bytes, bytearray, memoryview)):
        data = bytes(file)
        label = name or "firmware.bin"
    elif isinstance(file, (str, os.PathLike)):
        path = Path(file)
        try:
            size = path.stat().st_size
            if not path.is_file():
                raise ConfigError(f"firmware file {str(path)!r} is not a regular file")
            if size > MAX_FIRMWARE_BYTES:
                raise ConfigError(
                    f"firmware file {path.name!r} is {size} bytes, more than any miner image "
                    f"({MAX_FIRMWARE_BYTES} bytes)"
                )
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read firmware file {str(path)!r}: {exc.strerror or exc}"
            ) from None
        label = name or path.name
    else:
        raise ConfigError(f"firmware must be a file path or bytes, got {type(file).__name__}")
    if not data:
        raise ConfigError(f"firmware file {label!r} is empty")
    if len(data) > MAX_FIRMWARE_BYTES:
        raise ConfigError(f"firmware {label!r} is larger than {MAX_FIRMWARE_BYTES} bytes")
    if not label or "/" in label or "\\" in label or any(ord(c) < 32 for c in label):
        raise ConfigError(f"firmware file name {label!r} is not a plain file name")
    return FirmwareFile(label, data)


# --------------------------------------------------------------------------- format checks
def is_gzip(data: bytes) -> bool:
    """RFC 1952 member header: ``1f 8b`` and deflate (8)."""
    return data[:3] == b"\x1f\x8b\x08"


def is_tar(data: bytes) -> bool:
    """A POSIX/GNU tar: ``ustar`` at offset 257 of the first header block."""
    return len(data) >= 512 and data[257:262] == b"ustar"


def is_zip(data: bytes) -> bool:
    """A zip archive: a local file header (``PK\\3\\4``) first."""
    return data[:4] == b"PK\x03\x04"


def require(firmware: FirmwareFile, ok: bool, expected: str, family: str) -> None:
    """Refuse ``firmware`` with a ConfigError naming what ``family`` expects."""
    if not ok:
        raise ConfigError(f"{firmware.describe()} is not {family} firmware: expected {expected}")


def require_suffix(firmware: FirmwareFile, suffixes: Iterable[str], family: str) -> None:
    """Refuse a file whose name has none of ``suffixes`` (the extensions the vendor's
    updater accepts)."""
    allowed = tuple(suffixes)
    if not firmware.name.lower().endswith(allowed):
        raise ConfigError(
            f"{firmware.describe()} is not {family} firmware: its name must end in "
            f"{' or '.join(allowed)}"
        )


# --------------------------------------------------------------------------- multipart
def multipart(
    fields: Mapping[str, str], files: Mapping[str, tuple[str, bytes, str]]
) -> tuple[bytes, str]:
    """``multipart/form-data`` (RFC 7578) of text ``fields`` then ``files``
    (``{field: (file name, bytes, content type)}``): ``(body, Content-Type header)``."""
    boundary = "----asicbridge" + secrets.token_hex(12)
    out = bytearray()
    for key, value in fields.items():
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(key)}"\r\n\r\n'.encode()
        )
        out += value.encode() + b"\r\n"
    for key, (filename, data, content_type) in files.items():
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(key)}"; '
            f'filename="{_quote(filename)}"\r\nContent-Type: {content_type}\r\n\r\n'
        ).encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "").replace("\n", "")
