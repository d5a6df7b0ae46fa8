"""A small SMTP server that keeps what it is given: real SMTP for Django's SMTP backend in tests and
bench/mail_outbox.py, without a mail server on the machine (Python 3.11's stdlib has no smtpd server
worth using, and aiosmtpd is not a dependency)."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SmtpSink(socketserver.ThreadingTCPServer):
    """Just enough of an SMTP server for Django's SMTP backend: it keeps each message it is given."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, port: int, held: socket.socket | None = None) -> None:
        self.messages: list[tuple[list[str], str]] = []
        if held is None:
            super().__init__(("127.0.0.1", port), _SmtpSession)
            return
        # A port kept bound (``down_port``) until the server takes it over: nobody else can take it.
        super().__init__(("127.0.0.1", port), _SmtpSession, bind_and_activate=False)
        self.socket.close()
        self.socket = held
        self.server_address = held.getsockname()
        self.server_activate()


class _SmtpSession(socketserver.StreamRequestHandler):
    server: SmtpSink

    def _reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self._reply("220 sink ESMTP")
        recipients: list[str] = []
        while line := self.rfile.readline():
            command = line.decode("ascii", "replace").strip()
            verb = command[:4].upper()
            if verb in {"EHLO", "HELO"}:
                self._reply("250 sink")
            elif verb == "MAIL":
                recipients = []
                self._reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip().strip("<>"))
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 end with <CRLF>.<CRLF>")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk.decode("utf-8", "replace"))
                self.server.messages.append((recipients, "".join(data)))
                self._reply("250 OK queued")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("250 OK")


def down_port() -> socket.socket:
    """A loopback port where the SMTP server is down: bound, not listening, so a connection is refused.

    Handed to ``smtp_sink(port, held=...)`` when the server comes up (which closes it at the end), so
    that no other process (an outgoing connection's ephemeral port, another server) takes the port
    meanwhile, as one did once between a free port's lookup and the server's bind.
    """
    held = socket.socket()
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.bind(("127.0.0.1", 0))
    return held


@contextmanager
def smtp_sink(port: int, held: socket.socket | None = None) -> Iterator[SmtpSink]:
    sink = SmtpSink(port, held)
    thread = threading.Thread(target=sink.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        sink.shutdown()
        sink.server_close()
