"""CGMiner-style RPC: JSON over TCP on port 4028, one connection per request.

The protocol is simple (send ``{"command": ..., "parameter": ...}``, read until the miner
closes the socket) but real firmwares bend it: NUL terminators, missing or extra commas,
``inf``/``nan`` literals, truncated buffers.  :func:`parse_rpc_payload` repairs those, and only
when a plain ``json.loads`` fails, so a healthy miner costs one C-speed parse.

Every request is bounded by a connect timeout and a total deadline and by a response size
cap; every failure is a typed :mod:`asic_bridge.errors` exception naming the miner and command.
"""

# Per-call ``timeout`` arguments are deliberate: the callee owns the deadline so that it can
# name the miner and command in the MinerTimeoutError it raises.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, cast

import orjson

from asic_bridge import settings
from asic_bridge.errors import (
    APIError,
    CommandError,
    InvalidResponseError,
    MinerConnectionError,
    MinerTimeoutError,
    ResponseTooLargeError,
)
from asic_bridge.transport.deadline import Deadline

__all__ = [
    "RPCClient",
    "check_status",
    "json_object",
    "parse_rpc_payload",
]

# BOSminer's API proxy answers this (not JSON) when its mining backend is down.
_BACKEND_DOWN = b"Socket connect failed"

# --- payload repair --------------------------------------------------------------------------

# Values that mean "not a number".  A rate computed over zero elapsed time comes out as inf, and
# 0 is what the miner means (pyasic maps it the same way); nan is an unknown reading, so None.
_INF_VALUE = "0"
_NAN_VALUE = "null"

_QUOTED_NONFINITE = re.compile(
    r'(?<=[:\[,])(\s*)"\s*(-?)(inf(?:inity)?|nan)\s*"(?=\s*[,}\]])', re.IGNORECASE
)
_BARE_NONFINITE = re.compile(r"(?<=[:\[,])(\s*)(-?)(inf(?:inity)?|nan)(?=\s*[,}\]])", re.IGNORECASE)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_GLUED_OBJECTS = re.compile(r"}\s*{")
_ARRAY_LEADING_COMMA = re.compile(r"\[\s*,")
# A string value glued to the next key without a comma: ``"x""temp0":`` (Whatsminer 2023-01).
_GLUED_STRINGS = re.compile(r'(?<=[^\s\\:,\[{])""(?=[A-Za-z_][^"]*"\s*:)')
_ERROR_CODE_LIST = re.compile(r'"error_code"\s*:\s*\[', re.IGNORECASE)
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|"|[\[\]{},]', re.DOTALL)


def _nonfinite(match: re.Match[str]) -> str:
    return match.group(1) + (_NAN_VALUE if match.group(3).lower() == "nan" else _INF_VALUE)


def _constant(name: str) -> Any:
    """``json`` hook for the NaN/Infinity literals it accepts natively."""
    return None if name == "NaN" else 0


def _loads(text: str) -> Any:
    # orjson first: about 5x faster than json, and an answer is parsed on every poll.  It
    # refuses what the lenient parser below accepts: raw newlines/tabs inside strings (seen
    # from btminer; strict=False) and the NaN/Infinity literals.
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text, strict=False, parse_constant=_constant)


# Bytes the regexes' ``\s`` may match between the quotes and the word: ASCII whitespace, the
# separators str's ``\s`` also takes, and any non-ASCII byte (a UTF-8 encoded Unicode space).
_SPACE_BYTES = frozenset(b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f") | frozenset(range(0x80, 0x100))


def _has_quoted_nonfinite(data: bytes) -> bool:
    """True when the answer may hold a quoted ``inf``/``infinity``/``nan`` (any case, spaces
    or a minus inside the quotes), so that ``_QUOTED_NONFINITE`` has to run.

    Never false when the regex would match.  One lowered copy and two C scans find the
    words; each hit (``"INFO"``, ``"nanos"``) is then looked at where it is, a few bytes
    either side.  Six case-spelled substring scans cost about six times as much and missed
    ``"Infinity"``, ``"Nan"`` and ``"inf "``.
    """
    low = data.lower()
    if b"inf" not in low and b"nan" not in low:
        return False
    spaces = _SPACE_BYTES
    for word in (b"inf", b"nan"):
        at = low.find(word)
        while at >= 0:
            before = at - 1
            if before >= 0 and low[before] == 0x2D:  # '-'
                before -= 1
            while before >= 0 and low[before] in spaces:
                before -= 1
            if before >= 0 and low[before] == 0x22:  # '"' opens it
                after = at + 3
                if word == b"inf" and low.startswith(b"inity", after):
                    after += 5
                while after < len(low) and low[after] in spaces:
                    after += 1
                if after < len(low) and low[after] == 0x22:  # '"' closes it
                    return True
            at = low.find(word, at + 3)
    return False


def _fix_error_code_lists(text: str) -> str:
    """Whatsminer API 2.0.4 sends ``"error_code":["110":"<date>", ...]``: pairs in a list.

    Only the brackets of that one list become braces; the rest of the document is untouched.
    """
    out: list[str] = []
    pos = 0
    for match in _ERROR_CODE_LIST.finditer(text):
        start = match.end() - 1  # the '['
        if start < pos:
            continue
        end = _matching_bracket(text, start)
        if end is None:
            continue
        inner = text[start + 1 : end]
        if not re.match(r'\s*"(?:[^"\\]|\\.)*"\s*:', inner):
            continue  # a real list (of objects): leave it
        out.append(text[pos:start])
        out.append("{" + inner + "}")
        pos = end + 1
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _matching_bracket(text: str, start: int) -> int | None:
    depth = 0
    for match in _TOKENS.finditer(text, start):
        tok = match.group()
        if tok in ("[", "{"):
            depth += 1
        elif tok in ("]", "}"):
            depth -= 1
            if depth == 0:
                return match.start()
        elif tok == '"':
            return None  # unterminated string
    return None


def _cut_truncated(text: str) -> str | None:
    """Cut a truncated document after its last complete element and close what is open.

    A miner that overflows its send buffer (btminer with hundreds of error entries) stops in
    the middle of a value; everything before the last complete element is still good data.
    """
    stack: list[str] = []
    best: tuple[int, tuple[str, ...]] | None = None
    for match in _TOKENS.finditer(text):
        tok = match.group()
        if tok[0] == '"':
            if len(tok) == 1:
                break  # unterminated string: the cut must be before it
            continue
        if tok == "{":
            stack.append("}")
        elif tok == "[":
            stack.append("]")
        elif tok in ("}", "]"):
            if not stack or stack[-1] != tok:
                return None  # mismatched brackets: not a truncation, real garbage
            stack.pop()
            best = (match.end(), tuple(stack))
            if not stack:
                break  # first complete top-level value; anything after it is noise
        elif stack:  # a comma: the element before it is complete
            best = (match.start(), tuple(stack))
    if best is None:
        return None
    cut, still_open = best
    return text[:cut] + "".join(reversed(still_open))


def _repair(text: str) -> str:
    """The textual repairs, in an order where none can undo another."""
    s = text.replace("\x00", "").strip()
    if s.startswith(","):
        # Avalon: `,"id":1}` - the opening brace went missing with whatever preceded it.
        rest = s[1:].lstrip()
        s = "{" + rest if rest.startswith('"') else rest
    s = _fix_error_code_lists(s)
    s = _TRAILING_COMMA.sub(r"\1", s)
    s = _GLUED_OBJECTS.sub("},{", s)
    s = _ARRAY_LEADING_COMMA.sub("[", s)
    s = _GLUED_STRINGS.sub('","', s)
    s = _QUOTED_NONFINITE.sub(_nonfinite, s)
    s = _BARE_NONFINITE.sub(_nonfinite, s)
    return s


def _excerpt(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def parse_rpc_payload(raw: bytes) -> dict[str, Any]:
    """Parse one RPC answer into a dict, repairing the known firmware defects.

    Fast path: one ``json.loads``.  Only if that fails are the repairs applied (trailing NULs,
    ``,}``, ``}{``, ``[,{``, ``""temp0``, ``inf``/``nan``, a leading comma, Whatsminer's
    ``error_code`` list, a truncated buffer).  ``"inf"``/``"nan"`` strings in value position
    become numbers even on the fast path (inf -> 0, nan -> None).

    Raises :class:`InvalidResponseError` for anything that is still not a JSON object.
    """
    data = raw.rstrip(b"\x00 \t\r\n")
    if not data:
        raise InvalidResponseError("empty response")
    quoted_nonfinite = _has_quoted_nonfinite(data)
    if not quoted_nonfinite:
        # a healthy answer: orjson straight from the bytes, no str copy of the answer made
        try:
            return json_object(orjson.loads(data))
        except orjson.JSONDecodeError:
            pass  # not UTF-8, or a defect to repair: the lenient path below
    text = data.decode("utf-8", errors="replace")
    if quoted_nonfinite:
        text = _QUOTED_NONFINITE.sub(_nonfinite, text)
    try:
        obj = _loads(text)
    except (ValueError, RecursionError):
        repaired = _repair(text)
        try:
            obj = _loads(repaired)
        except (ValueError, RecursionError):
            cut = _cut_truncated(repaired)
            try:
                if cut is None:
                    raise ValueError("no complete element")
                obj = _loads(cut)
            except (ValueError, RecursionError):
                raise InvalidResponseError(f"not JSON: {_excerpt(text)!r}") from None
    return json_object(obj)


def json_object(
    obj: object, *, what: str = "", ip: str | None = None, command: str | None = None
) -> dict[str, Any]:
    """``obj`` (a decoded JSON value) when it is an object; :class:`InvalidResponseError`
    naming what it is otherwise (``what`` says whose payload it was)."""
    if not isinstance(obj, dict):
        prefix = f"{what}: " if what else ""
        raise InvalidResponseError(
            f"{prefix}expected a JSON object, got {type(obj).__name__}", ip=ip, command=command
        )
    return obj


def check_status(
    resp: Mapping[str, Any], ip: str | None = None, command: str | None = None
) -> None:
    """Raise :class:`CommandError` if the miner refused the command.

    CGMiner puts ``STATUS`` in a list (``[{"STATUS": "E", "Msg": ...}]``); Whatsminer's own
    commands put the letter at the top (``{"STATUS": "E", "Msg": ..., "Code": 14}``).  ``E``
    and ``F`` (fatal) are failures; ``S``, ``I``, ``W`` and anything else are not.  No STATUS
    at all is not a failure either: some firmwares omit it.
    """
    status = resp.get("STATUS")
    if isinstance(status, list):
        entry: Any = status[0] if status else None
    elif isinstance(status, dict):
        entry = status
    elif isinstance(status, str):
        entry = resp
    else:
        return
    if type(entry) is not dict and not isinstance(entry, Mapping):  # a dict: no ABC check
        return
    letter = entry.get("STATUS")
    if letter not in ("E", "F"):
        return
    msg = entry.get("Msg", entry.get("msg", "unknown error"))
    code = entry.get("Code", entry.get("code"))
    text = str(msg) if code is None else f"{msg} (code {code})"
    raise CommandError(text, ip=ip, command=command)


# --- the client ------------------------------------------------------------------------------


class _Exchange(asyncio.Protocol):
    """One request on a fresh connection and the whole answer, until the miner closes.

    A protocol rather than streams: the answer is collected as it arrives and handed over
    once, instead of a ``read()`` await (and an event-loop turn) per chunk; this runs for
    every RPC request of every poll.  The body stops at ``cap``.
    """

    __slots__ = ("_answer", "_cap", "_chunks", "_payload", "_size", "transport")

    def __init__(self, payload: bytes, cap: int, answer: asyncio.Future[bytes]) -> None:
        self._payload = payload
        self._cap = cap
        self._answer = answer
        self._chunks: list[bytes] = []
        self._size = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport, though not an asyncio.Transport subclass under uvloop
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self._payload)

    def data_received(self, data: bytes) -> None:
        if self._answer.done():
            return  # already failed (too large): keep nothing more
        self._size += len(data)
        if self._size > self._cap:
            self._finish(ResponseTooLargeError(f"answer exceeds {self._cap} bytes"))
            assert self.transport is not None
            self.transport.abort()
            return
        self._chunks.append(data)

    def eof_received(self) -> bool:
        self._finish(None)
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(exc)

    def _finish(self, exc: BaseException | None) -> None:
        chunks, self._chunks = self._chunks, []
        # The protocol is reachable from the raised exception's frames, which sit in
        # reference cycles until a full collection: it must not keep the answer's bytes
        # (50 MB answers grew the bridge by hundreds of MB between collections).
        if self._answer.done():
            return
        if exc is None:
            self._answer.set_result(b"".join(chunks))
        else:
            self._answer.set_exception(exc)


_PLAIN_REQUESTS: dict[str, bytes] = {}


def _plain_request(command: str) -> bytes:
    """``{"command": ...}`` encoded once per command (the same few on every poll)."""
    payload = _PLAIN_REQUESTS.get(command)
    if payload is None:
        if len(_PLAIN_REQUESTS) >= 256:
            _PLAIN_REQUESTS.clear()
        payload = _PLAIN_REQUESTS[command] = json.dumps({"command": command}).encode()
    return payload


class _Batch:
    """How :meth:`RPCClient.multicommand` sends a command list: the commands once each in
    order, those joined as ``"a+b+c"`` and those sent alone; kept per list (the same few
    lists on every poll) when nothing is to be kept ``separate``."""

    __slots__ = ("alone", "batch", "joined", "unique")

    def __init__(self, commands: tuple[str, ...], separate: Collection[str]) -> None:
        self.unique = tuple(dict.fromkeys(commands))
        self.batch = tuple(c for c in self.unique if c not in separate)
        self.alone = tuple(c for c in self.unique if c in separate)
        self.joined = "+".join(self.batch)


_BATCHES: dict[tuple[str, ...], _Batch] = {}


def _remaining(deadline: float) -> float:
    return deadline - asyncio.get_running_loop().time()


class RPCClient:
    """Client for one miner's CGMiner-style API (also BOSminer, btminer, LuxOS, ...).

    One TCP connection per request, because that is the protocol: the miner answers once and
    closes.  ``connections`` counts the connections opened, for tests and benchmarks.
    """

    def __init__(
        self,
        ip: str,
        port: int = 4028,
        *,
        timeout: float | None = None,
        max_bytes: int | None = None,
        limits: settings.Limits | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        self.ip = ip
        self.port = port
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.limits = limits or settings.limits()
        self.connect_timeout = connect_timeout
        self.connections = 0

    def __repr__(self) -> str:
        return f"RPCClient({self.ip}:{self.port})"

    def _total_timeout(self, timeout: float | None) -> float:
        return self.limits.timeout_for(timeout, self.timeout)

    def _cap(self) -> int:
        return self.limits.cap_for(self.max_bytes)

    async def send_raw(
        self, payload: bytes, *, command: str = "raw", timeout: float | None = None
    ) -> bytes:
        """Send ``payload`` on a fresh connection and return everything read until EOF.

        Shared by every protocol that uses this framing (plain RPC, Whatsminer v2 encrypted
        commands).  ``command`` only names the request in errors.
        """
        # the limits resolved here, not through _total_timeout/_cap: this runs per request
        limits = self.limits
        if timeout is None:
            timeout = self.timeout
        total = limits.request_timeout if timeout is None else float(timeout)
        connect_limit = self.connect_timeout
        if connect_limit is None:
            connect_limit = limits.connect_timeout
        if connect_limit > total:
            connect_limit = total
        cap = self.max_bytes
        if cap is None:
            cap = limits.max_response_bytes
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bytes] = loop.create_future()
        transport: asyncio.Transport | None = None
        phase = "connect"
        ok = False
        try:
            # One deadline (not wait_for: no task per connection), extended from the
            # connect limit to the total once connected: its one timer is only set again
            # if it fires before the answer (two timers cost twice the timer handling on
            # every request of every poll).  A plain ``with``: it awaits nothing.
            started = loop.time()
            with Deadline(when=started + connect_limit) as deadline:
                transport, _ = await loop.create_connection(
                    lambda: _Exchange(payload, cap, answer), self.ip, self.port
                )
                self.connections += 1
                phase = "answer"
                if total > connect_limit:
                    deadline.extend(started + total)
                data = await answer
                ok = True
                return data
        except ResponseTooLargeError as exc:
            raise ResponseTooLargeError(exc.reason, ip=self.ip, command=command) from None
        except TimeoutError:
            limit = connect_limit if phase == "connect" else total
            raise MinerTimeoutError(
                f"no {phase} within {limit:g}s", ip=self.ip, command=command
            ) from None
        except ConnectionRefusedError:
            raise MinerConnectionError(
                f"connection refused on port {self.port}", ip=self.ip, command=command
            ) from None
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            raise MinerConnectionError(
                "connection reset by the miner", ip=self.ip, command=command
            ) from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise MinerConnectionError(reason, ip=self.ip, command=command) from None
        finally:
            if transport is not None:
                if ok:
                    transport.close()
                else:
                    # Drop the socket now (RST): no lingering half-read answer, no waiting.
                    transport.abort()

    async def send_request(
        self,
        request: Mapping[str, Any],
        *,
        command: str | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send an arbitrary JSON request and return the parsed, status-checked answer."""
        name = command if command is not None else str(request.get("command", "?"))
        return await self._send_encoded(
            json.dumps(request).encode(), name, check=check, timeout=timeout
        )

    async def _send_encoded(
        self, payload: bytes, name: str, *, check: bool, timeout: float | None
    ) -> dict[str, Any]:
        raw = await self.send_raw(payload, command=name, timeout=timeout)
        return self._answer(raw, name, check)

    def _answer(self, raw: bytes, name: str, check: bool) -> dict[str, Any]:
        """The parsed (and, with ``check``, status-checked) answer ``raw`` to ``name``.

        A plain method, so that the hot callers await ``send_raw`` themselves: each
        coroutine layer is resumed again at every suspension of the exchange."""
        if not raw:
            raise MinerConnectionError("closed without an answer", ip=self.ip, command=name)
        if raw.startswith(_BACKEND_DOWN):
            reason = raw[:80].decode("utf-8", "replace").strip()
            raise MinerConnectionError(
                f"mining backend not running ({reason})", ip=self.ip, command=name
            )
        try:
            resp = parse_rpc_payload(raw)
        except InvalidResponseError as exc:
            raise InvalidResponseError(exc.reason, ip=self.ip, command=name) from None
        if check:
            check_status(resp, self.ip, name)
        return resp

    async def send(
        self,
        command: str,
        parameter: str | int | float | None = None,
        *,
        timeout: float | None = None,
        check: bool = True,
        **extra: Any,
    ) -> dict[str, Any]:
        """Send one command; ``extra`` keys go into the request (e.g. ``new_api=True``)."""
        if parameter is None and not extra:
            raw = await self.send_raw(_plain_request(command), command=command, timeout=timeout)
            return self._answer(raw, command, check)
        request: dict[str, Any] = {"command": command}
        if parameter is not None:
            request["parameter"] = parameter
        request.update(extra)
        return await self.send_request(request, command=command, check=check, timeout=timeout)

    async def multicommand(
        self,
        *commands: str,
        separate: Collection[str] = (),
        timeout: float | None = None,
    ) -> dict[str, dict[str, Any] | APIError]:
        """Run several commands, batched as ``"a+b+c"`` on one connection when possible.

        Returns one entry per command: its single-response dict, or the :class:`APIError` it
        failed with (never raised, so one bad command never loses the others).  If the
        firmware refuses the batch or leaves a command out, the missing ones are sent
        separately and concurrently.  ``separate`` names commands that must never be joined
        (btminer's ``get_*`` and ``status``).  One deadline bounds the whole call.
        """
        plan = None if separate else _BATCHES.get(commands)
        if plan is None:
            plan = _Batch(commands, separate)
            if not separate:
                if len(_BATCHES) >= 256:
                    _BATCHES.clear()
                _BATCHES[commands] = plan
        unique, batch = plan.unique, plan.batch
        alone = list(plan.alone)
        total = self._total_timeout(timeout)
        deadline = asyncio.get_running_loop().time() + total
        results: dict[str, dict[str, Any] | APIError] = {}

        if len(batch) > 1:
            joined = plan.joined
            try:
                # what send(joined, check=False) does, one coroutine layer fewer
                raw = await self.send_raw(_plain_request(joined), command=joined, timeout=total)
                resp = self._answer(raw, joined, False)
            except (CommandError, InvalidResponseError):
                alone.extend(batch)  # refused or garbled as a batch: try one by one
            except APIError as exc:
                # Unreachable, too slow or too large: separate requests would fare no better.
                for cmd in batch:
                    results[cmd] = type(exc)(exc.reason, ip=self.ip, command=cmd)
            else:
                alone.extend(self._split_batch(resp, batch, results))
        else:
            alone = [*batch, *alone]

        if not alone and not plan.alone:
            return results  # every command from the batch, in the order asked
        if alone:
            remaining = _remaining(deadline)
            outcomes = await asyncio.gather(
                *(self._send_within(cmd, remaining) for cmd in alone), return_exceptions=True
            )
            for cmd, outcome in zip(alone, outcomes, strict=True):
                if isinstance(outcome, (APIError, dict)):
                    results[cmd] = outcome
                else:
                    raise outcome  # a bug or a cancellation, not a miner failure
        return {cmd: results[cmd] for cmd in unique}

    async def _send_within(self, command: str, remaining: float) -> dict[str, Any]:
        if remaining <= 0:
            raise MinerTimeoutError(
                "deadline spent before this command", ip=self.ip, command=command
            )
        return await self.send(command, timeout=remaining)

    def _split_batch(
        self,
        resp: Mapping[str, Any],
        batch: Iterable[str],
        results: dict[str, dict[str, Any] | APIError],
    ) -> list[str]:
        """Fill ``results`` from a batched reply; return the commands it did not answer."""
        missing: list[str] = []
        for cmd in batch:
            part = resp.get(cmd)
            if isinstance(part, list) and part and isinstance(part[0], dict):
                part = part[0]
            if not isinstance(part, dict):
                missing.append(cmd)
                continue
            try:
                check_status(part, self.ip, cmd)
            except CommandError as exc:
                results[cmd] = exc
            else:
                results[cmd] = part
        return missing
