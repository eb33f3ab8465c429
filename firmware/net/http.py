"""A small HTTP/1.1 client on asyncio streams: a kept-alive connection, bounded replies.

Only what the sync needs: a request whose body is written by a callback (so
a batch streams from flash), a reply whose header block and body have hard
size limits (a hostile or broken server cannot exhaust the heap), and TLS
verified against the CA pinned at provisioning.  One connection serves all
the requests of a sync: a TLS handshake costs about as many bytes on the
air as ten records, and seconds on a weak village link.
"""

import asyncio

MAX_HEAD = 1024  # status line + headers (the registry sends about 250 bytes)
MAX_HEADERS = 32


class HttpError(Exception):
    """The connection or the reply failed; the message is short enough for the status screen."""


class ClosedBeforeReply(HttpError):
    """The server closed without a byte of reply (an idle kept-alive connection it dropped)."""


def parse_url(url):
    """("host", port) of an https:// URL."""
    if not url.startswith("https://"):
        raise HttpError("registry URL must be https://")
    rest = url[8:].split("/", 1)[0]
    if ":" in rest:
        host, port = rest.rsplit(":", 1)
        try:
            port = int(port)
        except ValueError:
            raise HttpError("bad port in registry URL")
    else:
        host, port = rest, 443
    if not host or not 0 < port < 65536:
        raise HttpError("bad registry URL")
    return host, port


def pem_to_der(pem):
    """The first certificate of a PEM text, as DER (what the device's TLS library loads)."""
    import binascii

    begin = pem.find("-----BEGIN CERTIFICATE-----")
    end = pem.find("-----END CERTIFICATE-----")
    if begin < 0 or end < begin:
        raise HttpError("CA certificate is not PEM")
    body = pem[begin + 27 : end].replace("\r", "").replace("\n", "").replace(" ", "")
    try:
        return binascii.a2b_base64(body)
    except ValueError:
        raise HttpError("CA certificate is not base64")


def tls_connector(host, port, ca_der):
    """A connect() for Client: TLS to host:port, the server certificate checked against ca_der.

    The SSL context (one 1.8 KB object, with the CA parsed) is made here, once, while the heap
    is in one piece, and serves every connection: made per connection, after a few enrolments
    it found no 1.8 KB run in 30 KB free and every sync failed "out of memory"."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_verify_locations(cadata=ca_der)
    except (ValueError, OSError) as e:  # MicroPython: ValueError; mbedtls' parse error: OSError
        raise HttpError("CA certificate unusable: " + str(e))

    async def connect():
        return await asyncio.open_connection(host, port, ssl=ctx, server_hostname=host)

    return connect


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body  # a memoryview into the connection's buffer: valid until its next request

    def retry_after(self):
        v = self.headers.get("retry-after")
        if v is not None and v.isdigit() and len(v) < 8:
            return int(v)
        return None


def _parse_head(head):
    lines = bytes(head).decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit() or len(parts[1]) != 3:
        raise HttpError("not an HTTP reply")
    if len(lines) - 1 > MAX_HEADERS:
        raise HttpError("too many reply headers")
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        i = line.find(":")
        if i <= 0:
            raise HttpError("malformed reply header")
        headers[line[:i].strip().lower()] = line[i + 1 :].strip()
    return int(parts[1]), headers


async def _fill(reader, buf, n, want):
    """Read up to `want` bytes into buf at n; returns the count (0 at end of stream).
    MicroPython's streams read straight into the buffer (no allocation per chunk)."""
    readinto = getattr(reader, "readinto", None)
    if readinto is not None:
        while True:
            got = await readinto(memoryview(buf)[n : n + want])
            if got is not None:  # None: the TLS layer had only part of a record; wait for more
                return got
    chunk = await reader.read(want)
    buf[n : n + len(chunk)] = chunk
    return len(chunk)


async def _read_reply(reader, buf, max_body, sink=None):
    """Read one reply into the preallocated buf (a growing buffer would fragment a small
    heap until a 2 KB answer no longer fits).  Reply.body is a view into buf; or, with sink, a
    200 reply's body (with a Content-Length) is handed to sink(view) piece by piece through buf,
    and Reply.body is empty: a body larger than buf (a trust list, to flash)."""
    n = 0
    while True:
        at = buf.find(b"\r\n\r\n", 0, n)
        if at >= 0:
            break
        if n >= MAX_HEAD:
            raise HttpError("reply header too large")
        got = await _fill(reader, buf, n, min(256, MAX_HEAD + 4 - n))
        if not got:
            if not n:
                raise ClosedBeforeReply("connection closed before the reply")
            raise HttpError("reply cut short")
        n += got
    status, headers = _parse_head(memoryview(buf)[:at])
    start = at + 4
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit() or int(length) > max_body:
            raise HttpError("reply too large")
        length = int(length)
    if sink is not None and status == 200:
        if length is None:
            raise HttpError("reply without a length")
        return await _stream_body(reader, buf, start, n, length, sink, status, headers)
    while length is None or n - start < length:
        room = start + max_body + 1 - n
        if room <= 0:
            raise HttpError("reply too large")
        got = await _fill(reader, buf, n, min(512, room))
        if not got:
            if length is None:
                break
            raise HttpError("reply body cut short")
        n += got
    if n - start > max_body:
        raise HttpError("reply too large")
    if length is not None and n - start != length:
        raise HttpError("reply body longer than its Content-Length")
    return Reply(status, headers, memoryview(buf)[start:n])


async def _stream_body(reader, buf, start, n, length, sink, status, headers):
    mv = memoryview(buf)
    got = n - start
    if got > length:
        raise HttpError("reply body longer than its Content-Length")
    if got:
        sink(mv[start:n])
    while got < length:
        k = await _fill(reader, buf, 0, min(len(buf), length - got))
        if not k:
            raise HttpError("reply body cut short")
        sink(mv[:k])
        got += k
    return Reply(status, headers, mv[:0])


def _failure(e):
    """The HttpError for an exception from the socket or TLS layer.  MicroPython's TLS does its
    handshake at the first write, and reports a certificate it does not trust as ValueError."""
    if isinstance(e, ValueError):
        return HttpError("TLS: " + str(e).strip()[:60])
    return HttpError("connection failed: " + str(e))


class Connection:
    """HTTP/1.1 requests on one connection, opened on demand and kept open between them."""

    def __init__(self, connect, host, max_body=8192):
        self.connect = connect
        self.host = host
        self.max_body = max_body
        self.buf = bytearray(MAX_HEAD + 4 + max_body + 1)  # every reply is read into this
        self.reader = None
        self.writer = None
        self.opened = 0  # connections (TLS handshakes) made

    async def _open(self):
        try:
            self.reader, self.writer = await self.connect()
        except OSError as e:
            raise HttpError("cannot connect: " + str(e))
        except ValueError as e:
            raise _failure(e)
        self.opened += 1

    def close(self):
        """Close now (MicroPython's Stream.close closes the socket; CPython's starts closing)."""
        w = self.writer
        self.reader = self.writer = None
        if w is not None:
            try:
                w.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail in any way
                pass

    async def request(self, method, path, headers, body_len=0, write_body=None, max_body=8192, sink=None):
        """Send one request; write_body(writer) is awaited to send exactly body_len bytes.  With
        sink, a 200 reply's body of up to max_body bytes goes to sink (_read_reply), not the buffer.
        A kept-alive connection the server has dropped meanwhile is reopened once."""
        reused = self.writer is not None
        while True:
            if self.writer is None:
                await self._open()
            try:
                return await self._exchange(method, path, headers, body_len, write_body, max_body, sink)
            except ClosedBeforeReply:
                self.close()
                if not reused:
                    raise
            except (OSError, ValueError) as e:
                self.close()
                if not reused:
                    raise _failure(e)
            except BaseException:
                self.close()
                raise
            reused = False  # the server had closed the idle connection: once more on a new one

    async def _exchange(self, method, path, headers, body_len, write_body, max_body, sink=None):
        head = method + " " + path + " HTTP/1.1\r\nHost: " + self.host + "\r\n"
        for name in headers:
            head += name + ": " + headers[name] + "\r\n"
        if body_len or method == "POST":
            head += "Content-Length: " + str(body_len) + "\r\n"
        self.writer.write((head + "\r\n").encode())
        await self.writer.drain()
        if write_body is not None:
            await write_body(self.writer)
        if max_body > self.max_body and sink is None:
            raise HttpError("reply limit above the connection's buffer")
        reply = await _read_reply(self.reader, self.buf, max_body, sink)
        if reply.headers.get("connection", "").lower() == "close" or "content-length" not in reply.headers:
            self.close()
        return reply
