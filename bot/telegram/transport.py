"""PTB's HTTP transport on aiohttp (the bot's other HTTP client) instead of httpx.

Why: in `python -m bench --profile`, PTB's default transport (httpx, httpcore, anyio) was about a
third of the bot's CPU time, with a socket write per multipart fragment. This sends each request
as one body, built in memory, over one aiohttp connection pool. The contract is PTB's
`BaseRequest.do_request`: return the status and the raw body; raise `TimedOut` for timeouts and
`NetworkError` for everything else that kept the request from completing (PTB maps HTTP statuses
to its own errors).

A file given as a file object (PTB's `InputFile(..., read_file_handle=False)`, as the worker
uploads videos) is not read into the body: it is read from its file while the request is sent,
so an upload of any size costs the bot one chunk of memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import urllib.request
from collections.abc import AsyncIterator
from typing import IO, Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import aiohttp.payload
from aiohttp.abc import AbstractStreamWriter
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# Read from a file per write while streaming an upload.
STREAM_CHUNK = 256 * 1024


class AiohttpRequest(BaseRequest):
    """One pool of HTTP/1.1 connections to the Bot API, with PTB's four timeouts.

    aiohttp has no write timeout: an upload (a request with files) is bounded as a whole by its
    write and read timeouts together. Waiting for a free connection is bounded by the pool timeout
    (a semaphore, as aiohttp's own wait for a connection shares the connect timeout), and a
    request that waited too long was not sent.
    """

    def __init__(
        self,
        *,
        connection_pool_size: int = 256,
        connect_timeout: float | None = 10.0,
        read_timeout: float | None = 30.0,
        write_timeout: float | None = 30.0,
        media_write_timeout: float | None = 300.0,
        pool_timeout: float | None = 10.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._media_write_timeout = media_write_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore  # made by initialize, on the event loop that uses it
        self._proxies: dict[str, str] = {}
        self._proxy_by_origin: dict[tuple[str, str], str | None] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._slots = asyncio.Semaphore(self._pool_size)
            # HTTPS_PROXY / HTTP_PROXY / NO_PROXY apply, as they did with PTB's httpx (where
            # Telegram is blocked, operators reach it through a proxy). Read once here:
            # aiohttp's trust_env reads the environment and ~/.netrc on every request, which
            # cost about 0.4 ms of CPU per Telegram call in bench/.
            self._proxies = urllib.request.getproxies()
            self._proxy_by_origin = {}
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),  # self._slots limits it
                headers={"User-Agent": self.USER_AGENT},
                cookie_jar=aiohttp.DummyCookieJar(),  # the Bot API sets none
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.contains_files if request_data else False
        body, content_type = _encode(request_data)
        timeout = self._timeout(
            files=files, read=read_timeout, write=write_timeout, connect=connect_timeout
        )
        headers = {"Content-Type": content_type} if content_type else None
        async with self._slot(pool_timeout):
            try:
                async with self._session.request(
                    method, url, data=body, headers=headers, timeout=timeout, proxy=self._proxy(url)
                ) as response:
                    return response.status, await response.read()
            except TimeoutError as error:
                raise TimedOut from error
            except aiohttp.ClientError as error:
                raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error

    def _proxy(self, url: str) -> str | None:
        """The proxy the environment names for this URL's origin, if any (remembered)."""
        scheme, netloc = urlsplit(url)[:2]
        origin = (scheme, netloc)
        if origin not in self._proxy_by_origin:
            proxy = self._proxies.get(scheme)
            host = netloc.rsplit("@", 1)[-1]
            # NO_PROXY, as urllib reads it (public, though missing from typeshed's stubs).
            bypass = proxy is not None and urllib.request.proxy_bypass_environment(  # type: ignore[attr-defined]
                host, self._proxies
            )
            self._proxy_by_origin[origin] = None if bypass else proxy
        return self._proxy_by_origin[origin]

    @contextlib.asynccontextmanager
    async def _slot(self, pool_timeout: Any) -> AsyncIterator[None]:
        wait = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        try:
            async with asyncio.timeout(wait):
                await self._slots.acquire()
        except TimeoutError:
            raise TimedOut(
                "Pool timeout: all connections to the Bot API are busy; the request was not sent"
            ) from None
        try:
            yield
        finally:
            self._slots.release()

    def _timeout(
        self, *, files: bool, read: Any, write: Any, connect: Any
    ) -> aiohttp.ClientTimeout:
        read = self._read_timeout if isinstance(read, DefaultValue) else read
        if isinstance(write, DefaultValue):
            write = self._media_write_timeout if files else self._write_timeout
        connect = self._connect_timeout if isinstance(connect, DefaultValue) else connect
        # An upload has no read phase to time until it is sent: bound it as a whole.
        total = None if not files or write is None or read is None else write + read
        return aiohttp.ClientTimeout(total=total, connect=connect, sock_read=read)


def _encode(
    request_data: RequestData | None,
) -> tuple[bytes | StreamedBody | None, str | None]:
    """The request body and its content type: a form, or multipart when files go along (one
    bytes object, or a StreamedBody when a file is to be read while sending)."""
    if request_data is None:
        return None, None
    fields = request_data.json_parameters
    if not request_data.contains_files:
        return urlencode(fields).encode(), FORM_CONTENT_TYPE
    boundary = secrets.token_hex(16)
    pieces: list[bytes | IO[bytes]] = []
    for name, value in fields.items():
        pieces.append(_part_head(boundary, name) + b"\r\n\r\n" + value.encode() + b"\r\n")
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        head = _part_head(boundary, name, filename) + f"\r\nContent-Type: {mimetype}".encode()
        pieces.extend((head + b"\r\n\r\n", content, b"\r\n"))
    pieces.append(f"--{boundary}--\r\n".encode())
    content_type = f"multipart/form-data; boundary={boundary}"
    if all(isinstance(piece, bytes) for piece in pieces):
        return b"".join(pieces), content_type  # type: ignore[arg-type]
    return StreamedBody(pieces, content_type), content_type


class StreamedBody(aiohttp.payload.Payload):
    """A multipart body whose files are read while it is sent, in STREAM_CHUNK pieces; its
    length is known up front (Content-Length, as Telegram expects of an upload).

    Each file is sent whole, from its start: a request sent again (PTB's rate limiter retries
    after a 429) reads it again. Reads are from the worker's temporary file, which the page
    cache holds, so they run on the event loop (a thread per chunk would cost more CPU)."""

    def __init__(self, pieces: list[bytes | IO[bytes]], content_type: str) -> None:
        super().__init__(pieces, content_type=content_type)
        self._pieces = pieces
        self._size = sum(
            len(piece) if isinstance(piece, bytes) else _file_size(piece) for piece in pieces
        )

    async def write(self, writer: AbstractStreamWriter) -> None:
        # Pieces are gathered into STREAM_CHUNK writes: a socket write per small piece (each
        # field is one) would cost more CPU than the copying saves.
        pending = bytearray()
        for piece in self._pieces:
            if isinstance(piece, bytes):
                pending += piece
                continue
            piece.seek(0)
            while chunk := piece.read(STREAM_CHUNK):
                pending += chunk
                if len(pending) >= STREAM_CHUNK:
                    await writer.write(bytes(pending))  # waits while the socket's buffer is full
                    pending.clear()
        if pending:
            await writer.write(bytes(pending))

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a streamed upload has no text form")


def _file_size(file: IO[bytes]) -> int:
    file.seek(0, 2)
    return file.tell()


def _part_head(boundary: str, name: str, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{_quoted(name)}"'
    if filename is not None:
        disposition += f'; filename="{_quoted(filename)}"'
    return f"--{boundary}\r\nContent-Disposition: {disposition}".encode()


def _quoted(value: str) -> str:
    # RFC 7578: quotes and line breaks in names are percent-encoded, as browsers (and httpx) do.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
