"""A small SMTP server that keeps what it is given: real SMTP for Django's SMTP backend in tests and
bench/mail_outbox.py, without a mail server on the machine (Python 3.11's stdlib has no smtpd server
worth using, and aiosmtpd is not a dependency)."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SmtpSink(socketserver.ThreadingTCPServer):
    """Just enough of an SMTP server for Django's SMTP backend: it keeps each message it is given."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[list[str], str]] = []
        super().__init__(("127.0.0.1", port), _SmtpSession)


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


@contextmanager
def smtp_sink(port: int) -> Iterator[SmtpSink]:
    sink = SmtpSink(port)
    thread = threading.Thread(target=sink.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        sink.shutdown()
        sink.server_close()
