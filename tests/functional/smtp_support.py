"""A real SMTP server for the email tests: aiosmtpd on a free port of 127.0.0.1 (fixtures in conftest)."""
from __future__ import annotations

import asyncio
import email
import socket
from email import policy

from aiosmtpd.controller import Controller

MAIL_FROM = "乡镇办公室 <caseflow@office.example.cn>"


class Collector:
    """An SMTP handler that keeps every accepted message; some addresses are refused or deferred."""

    def __init__(self):
        self.envelopes = []
        self.refused: dict[str, str] = {}  # address -> SMTP answer to RCPT
        self.rendezvous = 0  # DATA commands that wait for each other (proves concurrent deliverers)
        self._arrived = 0
        self._all_arrived: asyncio.Event | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return self.refused[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self._arrived < self.rendezvous:
            self._arrived += 1
            self._all_arrived = self._all_arrived or asyncio.Event()
            if self._arrived == self.rendezvous:
                self._all_arrived.set()
            # The first messages are held until all have arrived: their senders are in flight together.
            await asyncio.wait_for(self._all_arrived.wait(), timeout=10)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self):
        return [email.message_from_bytes(e.original_content, policy=policy.default) for e in self.envelopes]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpServer:
    def __init__(self, port: int):
        self.port = port
        self.handler = Collector()
        self.controller: Controller | None = None

    def start(self):
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
