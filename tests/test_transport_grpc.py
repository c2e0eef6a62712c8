"""transport/grpc.py bounds a reply while reading it; grpclib 0.4.x cannot (issue #18).

One real HTTP/2 server on 127.0.0.1 answers ``/t.S/Big`` with one gRPC message of ``SIZE``
bytes, sent only as fast as the client's flow-control window allows, and counts what it could
send; ``/t.S/Small`` answers ``ok``.  A client that gives up at the cap and resets the stream
lets the server send little more than the cap: the rest of the reply never exists in the
client's memory.  grpclib has no receive-size limit (no such field in its ``Configuration``;
vmagamedov/grpclib#195 is open): it reads the whole message, whatever its length prefix
says, before any codec or event of ours sees a byte.  That is why transport/grpc.py keeps its
own client (see its docstring).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import h2.config
import h2.connection
import h2.events
import pytest

from asic_bridge.errors import ResponseTooLargeError
from asic_bridge.transport.grpc import GRPCClient, frame
from bench.wire_bench import RawCodec

CAP = 1024 * 1024
SIZE = 8 * CAP


class OversizedServer:
    """Unary gRPC answers, DATA sent within the peer's window; ``sent`` counts message bytes."""

    def __init__(self) -> None:
        self.sent = 0
        self.resets = 0
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        pending: dict[int, memoryview] = {}
        paths: dict[int, str] = {}
        try:
            while data := await reader.read(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        paths[event.stream_id] = dict(event.headers)[":path"]
                    elif isinstance(event, h2.events.DataReceived):
                        conn.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                    elif isinstance(event, h2.events.StreamEnded):
                        big = paths.pop(event.stream_id) == "/t.S/Big"
                        conn.send_headers(
                            event.stream_id,
                            [(":status", "200"), ("content-type", "application/grpc")],
                        )
                        pending[event.stream_id] = memoryview(frame(b"x" * SIZE if big else b"ok"))
                    elif isinstance(event, h2.events.StreamReset):
                        self.resets += 1
                        pending.pop(event.stream_id, None)
                self._send(conn, pending)
                writer.write(conn.data_to_send())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def _send(self, conn: h2.connection.H2Connection, pending: dict[int, memoryview]) -> None:
        for stream_id, body in list(pending.items()):
            while body:
                room = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
                if room <= 0:
                    break
                chunk, body = body[:room], body[room:]
                conn.send_data(stream_id, chunk.tobytes())
                self.sent += len(chunk)
            if body:
                pending[stream_id] = body
            else:
                del pending[stream_id]
                conn.send_headers(stream_id, [("grpc-status", "0")], end_stream=True)


@pytest.fixture
async def server() -> AsyncIterator[OversizedServer]:
    srv = OversizedServer()
    listener = await asyncio.start_server(srv.serve, "127.0.0.1", 0)
    srv.port = listener.sockets[0].getsockname()[1]
    try:
        yield srv
    finally:
        listener.close()


async def test_an_oversized_reply_is_refused_while_it_is_read(server: OversizedServer) -> None:
    client = GRPCClient("127.0.0.1", server.port, timeout=10, max_bytes=CAP)
    try:
        with pytest.raises(ResponseTooLargeError) as info:
            await client.call("/t.S/Big")
        assert info.value.command == "Big" and info.value.ip == "127.0.0.1"
        # the same kept connection carries the next call, which the server answers only after
        # it has taken the reset of the big one: from then on nothing more of it is sent
        reply = await client.call("/t.S/Small")
        assert reply.message == b"ok"
        assert client.connections == 1
        assert server.resets == 1
        assert server.sent < CAP + CAP // 2, f"{server.sent} of {SIZE} bytes were sent"
    finally:
        await client.aclose()


async def test_grpclib_reads_an_oversized_reply_whole(server: OversizedServer) -> None:
    """If this fails, grpclib learnt to bound replies: revisit moving transport/grpc.py."""
    from grpclib.client import Channel
    from grpclib.config import Configuration
    from grpclib.const import Cardinality

    # nothing to configure: the only size knobs are the HTTP/2 windows, which grpclib
    # re-opens as fast as it buffers, so they pace a reply but do not bound it
    knobs = [f.name for f in dataclasses.fields(Configuration)]
    assert not [name for name in knobs if "message" in name or "max_r" in name], knobs
    smallest = Configuration(http2_connection_window_size=65535, http2_stream_window_size=65535)
    channel = Channel("127.0.0.1", server.port, codec=RawCodec(), config=smallest)  # type: ignore[arg-type]
    try:
        async with channel.request("/t.S/Big", Cardinality.UNARY_UNARY, None, None) as stream:
            await stream.send_message(b"", end=True)
            message = await stream.recv_message()
        assert isinstance(message, bytes) and len(message) == SIZE
        assert server.sent == len(frame(b"")) + SIZE and server.resets == 0
    finally:
        channel.close()
