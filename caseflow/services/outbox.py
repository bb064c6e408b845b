"""Email that is never lost and never doubled: the outbox.

Whatever causes an email (a daily digest, a monthly report) calls ``queue_email`` inside its own unit of
work: the message row commits or rolls back together with its cause, so an email is never sent for
something that did not happen, and never lost for something that did. Each message carries the effect's
idempotency key, so a job run twice queues it once.

A delivery job (``deliver_outbox``, every minute) sends what is due. Per message:

1. claim it: status ``sending`` with ``claimed_at`` and a random ``claim_token``, committed. On PostgreSQL
   the candidate is picked with ``FOR UPDATE SKIP LOCKED``, so concurrent deliverers take different
   messages without waiting; on both databases the claim itself is a compare-and-set UPDATE (it only
   succeeds while the message is still due), so two deliverers can never both hold a claim;
2. send it (SMTP, or an ``.eml`` file in development), outside any database transaction;
3. record the outcome, committed: ``sent``; or back to ``pending`` with exponential backoff; or
   ``failed_permanently`` with the server's answer.

The remaining window. Between the SMTP server accepting the message (step 2) and the commit of step 3,
nothing durable says it was sent. If the process dies in that window (milliseconds: one UPDATE), the claim
stays ``sending``; after ``CLAIM_TIMEOUT`` another run takes it over and sends it again. We choose
at-least-once for that window rather than at-most-once (never retrying a stale claim), because a lost
reminder is worse than a rare duplicate — and the duplicate carries the same Message-ID (fixed at queue
time), so mail clients and people can recognise it. A message is never resent while its claim is fresh;
``CLAIM_TIMEOUT`` is far longer than one send can take (every SMTP operation has
``CASEFLOW_SMTP_TIMEOUT``). The ``.eml`` transport has no window at all: the file is created atomically
and exclusively, so a retry finds it and only records the message as sent.
"""
from __future__ import annotations

import base64
import logging
import os
import secrets
import smtplib
import ssl
import tempfile
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from flask import current_app

from caseflow.extensions import db, insert_or_nothing, transactional
from caseflow.models import OutboxMessage

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed_permanently"

# A claim older than this is taken to be a crashed deliverer's and the message is sent again.
CLAIM_TIMEOUT = timedelta(minutes=15)
# Retries while the server is unreachable or answers 4xx: 1, 2, 4 … minutes, at most an hour apart.
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=1)
# Past this age a message that still could not be delivered is given up (an operator sees last_error).
GIVE_UP_AFTER = timedelta(days=2)


@dataclass(frozen=True)
class MailAttachment:
    filename: str
    content_type: str  # e.g. application/vnd.openxmlformats-officedocument.spreadsheetml.sheet
    data: bytes


def queue_email(key: str, to: str, subject: str, text: str, html: str | None = None,
                attachments: Iterable[MailAttachment | tuple[str, str, bytes]] = (), *,
                now: datetime | None = None) -> OutboxMessage:
    """Add an email to the outbox in the caller's transaction (flushed, not committed).

    ``key`` identifies the effect (e.g. ``"digest:2026-11-24:user:7"``): if a message with that key was
    already queued — by this transaction, an earlier run, or a concurrent one — nothing is added and the
    existing row is returned, unchanged. ``attachments`` are ``MailAttachment``s or
    ``(filename, content_type, bytes)`` tuples.
    """
    now = now or datetime.now(UTC)
    for name, value in (("key", key), ("to", to), ("subject", subject)):
        # A line break in a header is header injection; refuse it here rather than fail at every retry.
        if not value or "\r" in value or "\n" in value:
            raise ValueError(f"queue_email: {name} must be a non-empty single line")
    if "@" not in parseaddr(to)[1]:
        raise ValueError(f"queue_email: {to!r} is not an email address")
    stored = []
    for item in attachments:
        item = item if isinstance(item, MailAttachment) else MailAttachment(*item)
        stored.append({"filename": item.filename, "content_type": item.content_type,
                       "base64": base64.b64encode(item.data).decode("ascii")})
    db.session.execute(insert_or_nothing(OutboxMessage, "key").values(
        key=key, to_address=to, subject=subject, text_body=text, html_body=html, attachments=stored,
        message_id=make_msgid(domain=_mail_domain()), status=PENDING, attempts=0, created_at=now,
        next_attempt_at=now,
    ))
    return db.session.execute(sa.select(OutboxMessage).where(OutboxMessage.key == key)).scalar_one()


def build_message(row: OutboxMessage, mail_from: str) -> EmailMessage:
    """The MIME message of an outbox row: text, HTML alternative if any, attachments; same bytes each time."""
    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = row.subject
    message["From"] = mail_from
    message["To"] = row.to_address
    message["Date"] = format_datetime(row.created_at)
    message["Message-ID"] = row.message_id
    message.set_content(row.text_body)
    if row.html_body is not None:
        message.add_alternative(row.html_body, subtype="html")
    for item in row.attachments or ():
        maintype, _, subtype = item["content_type"].partition("/")
        message.add_attachment(base64.b64decode(item["base64"]), maintype=maintype,
                               subtype=subtype or "octet-stream", filename=item["filename"])
    return message


# --- transports -----------------------------------------------------------------------------------


class TemporaryFailure(Exception):
    """Try again later: server unreachable, 4xx answer, authentication or TLS trouble."""

    def __init__(self, error: str, server_down: bool = False):
        super().__init__(error)
        self.server_down = server_down  # nothing else will get through in this run either


class PermanentFailure(Exception):
    """The server refused this message for good (5xx to its recipient or content)."""


class Transport(Protocol):
    def send(self, message: EmailMessage, envelope_from: str, to: str, key: str) -> None: ...

    def close(self) -> None: ...


class SmtpTransport:
    """smtplib over one connection per delivery run, opened on first use."""

    def __init__(self, host: str, port: int, tls: str, username: str | None, password: str | None,
                 timeout: float):
        self.host, self.port, self.tls, self.timeout = host, port, tls, timeout
        self.username, self.password = username, password
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        try:
            if self.tls == "ssl":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            try:
                if self.tls == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
            except BaseException:
                smtp.close()
                raise
        except (OSError, smtplib.SMTPException) as error:
            # Unreachable, TLS or login trouble is the same for every message: retry later, stop this run.
            raise TemporaryFailure(f"cannot connect to {self.host}:{self.port}: {_describe(error)}",
                                   server_down=True) from error
        return smtp

    def send(self, message: EmailMessage, envelope_from: str, to: str, key: str) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            # The envelope gets the bare address: with a display name ("主管 <a@b>") smtplib would take the
            # recipient for an internationalised one and send raw UTF-8 headers.
            self._smtp.send_message(message, from_addr=envelope_from, to_addrs=[parseaddr(to)[1]])
        except smtplib.SMTPRecipientsRefused as error:
            self.close()
            code, answer = next(iter(error.recipients.values()))
            _raise_for_code(code, f"recipient {to} refused: {code} {_text(answer)}")
        except smtplib.SMTPSenderRefused as error:
            self.close()
            # 552 on MAIL FROM is this message's size; other refusals of our sender are configuration.
            if error.smtp_code == 552:
                raise PermanentFailure(f"message too large: {error.smtp_code} {_text(error.smtp_error)}")
            raise TemporaryFailure(f"sender {envelope_from} refused: {error.smtp_code} "
                                   f"{_text(error.smtp_error)}", server_down=True) from error
        except smtplib.SMTPDataError as error:
            self.close()
            _raise_for_code(error.smtp_code, f"message refused: {error.smtp_code} {_text(error.smtp_error)}")
        except (OSError, smtplib.SMTPException) as error:
            self.close()
            raise TemporaryFailure(f"sending failed: {_describe(error)}", server_down=True) from error

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


class EmlTransport:
    """Development: each message becomes ``<directory>/<key>.eml``, created atomically and only once."""

    def __init__(self, directory: Path):
        self.directory = directory

    def path_for(self, key: str) -> Path:
        # Percent-encoding keeps keys readable ("digest:2026-11-24:user:7.eml") and distinct keys distinct.
        name = urllib.parse.quote(key, safe=":@=+,-_")
        return self.directory / f"{name.replace('.', '%2E')}.eml"

    def send(self, message: EmailMessage, envelope_from: str, to: str, key: str) -> None:
        target = self.path_for(key)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".sending-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(message.as_bytes())
                    handle.flush()
                    os.fsync(handle.fileno())
                try:
                    # link() never replaces: a retry after a crash finds the file and stops here, so a
                    # message is written once, complete, and is then recorded as sent.
                    os.link(temporary, target)
                except FileExistsError:
                    log.info("outbox: %s already written, not writing it twice", target.name)
            finally:
                os.unlink(temporary)
        except OSError as error:
            raise TemporaryFailure(f"cannot write {target}: {error}", server_down=True) from error

    def close(self) -> None:
        pass


def make_transport() -> Transport:
    """SMTP when CASEFLOW_SMTP_HOST is set, else .eml files under CASEFLOW_OUTBOX_DIR (<instance>/outbox)."""
    config = current_app.config
    if config.get("CASEFLOW_SMTP_HOST"):
        return SmtpTransport(config["CASEFLOW_SMTP_HOST"], config["CASEFLOW_SMTP_PORT"],
                             config["CASEFLOW_SMTP_TLS"], config.get("CASEFLOW_SMTP_USERNAME"),
                             config.get("CASEFLOW_SMTP_PASSWORD"), config["CASEFLOW_SMTP_TIMEOUT"])
    directory = config.get("CASEFLOW_OUTBOX_DIR") or Path(current_app.instance_path) / "outbox"
    return EmlTransport(Path(directory))


# --- delivery -------------------------------------------------------------------------------------


@dataclass
class DeliverySummary:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    stopped: str | None = None  # why the run ended early (server unreachable)

    def __str__(self) -> str:
        text = f"{self.sent} email(s) sent, {self.retrying} to retry, {self.failed} failed permanently"
        return f"{text}; stopped early: {self.stopped}" if self.stopped else text


def deliver_pending(now: datetime, limit: int = 100) -> DeliverySummary:
    """Send up to ``limit`` due messages, each claimed, sent and recorded in its own short transactions.

    This COMMITS: it first commits whatever the session holds (so call it only as a unit of work of its
    own, never from inside a service), then commits each claim and each outcome separately, so that a
    message sent is recorded as sent at once and a crash loses at most the one message in flight (see
    the module docstring for that window). Safe to run concurrently from several processes.
    """
    db.session.commit()
    transport = make_transport()
    mail_from = current_app.config["CASEFLOW_MAIL_FROM"]
    envelope_from = parseaddr(mail_from)[1] or mail_from
    summary = DeliverySummary()
    try:
        for _ in range(limit):
            claim = _claim_next(now, mail_from)
            if claim is None:
                break
            try:
                transport.send(claim.message, envelope_from, claim.to, claim.key)
            except TemporaryFailure as failure:
                gave_up = _record_retry(claim, str(failure), now)
                if gave_up:
                    summary.failed += 1
                else:
                    summary.retrying += 1
                if failure.server_down:
                    summary.stopped = str(failure)
                    break
            except PermanentFailure as failure:
                _record(claim, status=FAILED, last_error=str(failure))
                summary.failed += 1
            else:
                _record(claim, status=SENT, sent_at=now, last_error=None)
                summary.sent += 1
    finally:
        transport.close()
    return summary


def deliver_outbox(now: datetime) -> str:
    """Scheduler job: deliver due email. The one job that commits inside its run.

    Jobs run in one ``transactional()`` block, all or nothing. Delivery cannot: an email accepted by the
    SMTP server cannot be rolled back, so each message's claim and outcome must be committed as soon as
    they happen — one rolled-back batch would send everything in it again on the next run. Register it
    with ``own_transactions=True`` (no surrounding transaction); called inside a ``transactional()`` block
    it still works, committing that block's pending work first, and the block's final commit then finds
    nothing left to do. Never hold a transaction-scoped lock in ``db.session`` around it.
    """
    return str(deliver_pending(now))


@dataclass(frozen=True)
class _Claim:
    """What a deliverer holds while sending: plain values, so no database read happens mid-send."""

    id: int
    key: str
    to: str
    token: str
    attempts: int
    created_at: datetime
    message: EmailMessage


def _claim_next(now: datetime, mail_from: str) -> _Claim | None:
    """Claim one due message (committed), or None when nothing is due."""
    due = sa.or_(
        sa.and_(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now),
        # A claim this old belongs to a deliverer that died mid-send: at-least-once, see module docstring.
        sa.and_(OutboxMessage.status == SENDING, OutboxMessage.claimed_at <= now - CLAIM_TIMEOUT),
    )
    while True:
        with transactional() as session:
            # PostgreSQL: rows another deliverer is claiming are skipped, not waited for. SQLite ignores
            # FOR UPDATE; there the compare-and-set UPDATE below alone decides (writers are serialised).
            candidate = session.execute(
                sa.select(OutboxMessage.id).where(due)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(1).with_for_update(skip_locked=True)
            ).scalar()
            if candidate is None:
                return None
            token = secrets.token_hex(16)
            claimed = session.execute(
                sa.update(OutboxMessage).where(OutboxMessage.id == candidate, due)
                .values(status=SENDING, claimed_at=now, claim_token=token, attempts=OutboxMessage.attempts + 1)
                .execution_options(synchronize_session=False)
            ).rowcount
        if claimed == 1:
            with transactional() as session:  # a short read, ended before the message is sent
                row = session.get(OutboxMessage, candidate, populate_existing=True)
                return _Claim(row.id, row.key, row.to_address, token, row.attempts, row.created_at,
                              build_message(row, mail_from))
        # Another deliverer claimed it between our SELECT and UPDATE (SQLite): pick again.


def _record(claim: _Claim, **values) -> bool:
    """Write the outcome if the claim is still ours (committed); False when it was taken over."""
    with transactional() as session:
        updated = session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == claim.id, OutboxMessage.status == SENDING,
                   OutboxMessage.claim_token == claim.token)
            .values(claimed_at=None, claim_token=None, **values)
            .execution_options(synchronize_session=False)
        ).rowcount
    if updated != 1:
        # Our claim went stale and another run took the message over; its outcome is the one recorded.
        log.warning("outbox: claim on %s was taken over; outcome %s not recorded", claim.key,
                    values.get("status"))
    return updated == 1


def _record_retry(claim: _Claim, error: str, now: datetime) -> bool:
    """Back to pending with backoff; or, past GIVE_UP_AFTER, failed for good. True when given up."""
    if now - claim.created_at >= GIVE_UP_AFTER:
        _record(claim, status=FAILED, last_error=f"gave up after {claim.attempts} attempt(s): {error}")
        return True
    _record(claim, status=PENDING, next_attempt_at=now + retry_delay(claim.attempts), last_error=error)
    return False


def retry_delay(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failed attempt: 1, 2, 4 … minutes, capped at MAX_RETRY."""
    return min(FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 16), MAX_RETRY)


def _raise_for_code(code: int, error: str) -> None:
    if 500 <= code < 600:
        raise PermanentFailure(error)
    raise TemporaryFailure(error)


def _mail_domain() -> str:
    address = parseaddr(current_app.config["CASEFLOW_MAIL_FROM"])[1]
    try:
        return Address(addr_spec=address).domain or "localhost"
    except (ValueError, IndexError):
        return "localhost"


def _text(answer: bytes | str) -> str:
    return answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
