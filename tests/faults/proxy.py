"""A TCP proxy that forwards, refuses or blackholes, for putting in front of PostgreSQL.

It runs an asyncio loop in a daemon thread of the test process and listens on a
free port of 127.0.0.1. Modes, switched at any time with :meth:`TcpProxy.mode`:

``forward``
    Every connection is relayed to the upstream address, both ways.
``refuse``
    The listening socket is closed (a new connection gets ECONNREFUSED, as from
    a database that is down) and every open connection is reset.
``blackhole``
    Connections are accepted and never answered, and open ones stop relaying in
    both directions: a database that hangs, or a network that drops every
    packet after the handshake. Nothing is closed.

Leaving ``refuse`` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator

MODES = ("forward", "refuse", "blackhole")


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = _free_port()
        self._mode = "forward"
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="tcp-proxy", daemon=True
        )
        self.connections = 0

    # --- control, from the test's thread ------------------------------------------

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def mode(self, mode: str) -> None:
        assert mode in MODES, mode
        self._call(self._switch(mode))

    def stop(self) -> None:
        self._call(self._switch("refuse"))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _call(self, coroutine) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    # --- the loop ---------------------------------------------------------------------

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accepted, "127.0.0.1", self.port, reuse_address=True
        )

    async def _switch(self, mode: str) -> None:
        previous, self._mode = self._mode, mode
        if mode == "refuse":
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
            for writer in list(self._writers):
                transport = writer.transport
                with contextlib.suppress(Exception):
                    sock = transport.get_extra_info("socket")
                    if sock is not None:
                        # SO_LINGER 0: the close sends a reset, as a dead peer's
                        # kernel would.
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0"
                        )
                transport.abort()
            self._writers.clear()
        elif previous == "refuse":
            await self._listen()

    async def _accepted(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        self._writers.add(writer)
        if self._mode != "forward":
            return  # blackholed: held open, never read, never answered
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer)
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                while self._mode == "blackhole":
                    await asyncio.sleep(0.05)  # hold the bytes; relay nothing
                if self._mode == "refuse":
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
            self._writers.discard(writer)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_proxy(host: str, port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(host, port).start()
    try:
        yield proxy
    finally:
        proxy.stop()
