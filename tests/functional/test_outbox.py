"""The email outbox against a real SMTP server (aiosmtpd on 127.0.0.1) and the real database."""
from __future__ import annotations

import email
import threading
from datetime import UTC, datetime, timedelta
from email import policy

import pytest
import sqlalchemy as sa

from caseflow.extensions import db, transactional
from caseflow.models import OutboxMessage
from caseflow.services import outbox
from caseflow.services.outbox import (
    MailAttachment,
    deliver_outbox,
    deliver_pending,
    queue_email,
)

NOW = datetime(2026, 11, 24, 0, 30, tzinfo=UTC)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
def _queue(key: str, to: str = "clerk@office.example.cn", **kwargs) -> OutboxMessage:
    with transactional():
        return queue_email(key, to, kwargs.pop("subject", f"提醒 {key}"), kwargs.pop("text", "正文"),
                           now=kwargs.pop("now", NOW), **kwargs)


def _row(key: str) -> OutboxMessage:
    db.session.rollback()
    return db.session.execute(sa.select(OutboxMessage).where(OutboxMessage.key == key)).scalar_one()


def _count() -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(OutboxMessage)).scalar_one()


def test_queued_in_the_callers_transaction(smtp_up):
    with pytest.raises(RuntimeError), transactional():
        queue_email("digest:2026-11-24:user:7", "a@example.org", "s", "t", now=NOW)
        raise RuntimeError("the cause failed")
    assert _count() == 0
    assert deliver_pending(NOW).sent == 0
    assert smtp_up.handler.envelopes == []


def test_same_key_queues_one_message(smtp_up):
    with transactional():
        first = queue_email("digest:2026-11-24:user:7", "a@example.org", "first", "t", now=NOW)
        again = queue_email("digest:2026-11-24:user:7", "a@example.org", "second", "t", now=NOW)
        assert again.id == first.id
    later = _queue("digest:2026-11-24:user:7", "other@example.org", subject="third")
    assert later.id == first.id and later.subject == "first" and later.to_address == "a@example.org"
    assert _count() == 1
    assert deliver_pending(NOW).sent == 1
    assert len(smtp_up.handler.envelopes) == 1


def test_same_key_from_two_concurrent_transactions_is_one_message(app):
    barrier, errors = threading.Barrier(2), []

    def queue(subject):
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                with transactional():
                    queue_email("report:2026-10:user:3", "a@example.org", subject, "t", now=NOW)
            except Exception as error:  # noqa: BLE001 - a thread reports every error to the test
                errors.append(error)

    threads = [threading.Thread(target=queue, args=(s,)) for s in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert _count() == 1


def test_delivered_once_with_headers_recipients_and_bodies(smtp_up):
    report = b"PK\x03\x04 not really a workbook \x00\xff"
    queued = _queue("report:2026-10:user:3", "主管 <boss@office.example.cn>", subject="十月份工作会议报告",
                    text="请查收附件。", html="<p>请查收<b>附件</b>。</p>",
                    attachments=[MailAttachment("2026-10 月报.xlsx", XLSX, report)])
    summary = deliver_pending(NOW)
    assert (summary.sent, summary.retrying, summary.failed) == (1, 0, 0)
    assert str(summary) == "1 email(s) sent, 0 to retry, 0 failed permanently"

    (envelope,) = smtp_up.handler.envelopes
    assert envelope.mail_from == "caseflow@office.example.cn"
    assert envelope.rcpt_tos == ["boss@office.example.cn"]
    assert b"\xe4" not in envelope.original_content.partition(b"\r\n\r\n")[0]  # headers RFC 2047-encoded
    (message,) = smtp_up.handler.messages()
    assert message["Subject"] == "十月份工作会议报告"
    assert message["To"].addresses[0].addr_spec == "boss@office.example.cn"
    assert message["From"].addresses[0].display_name == "乡镇办公室"
    assert message["Message-ID"] == queued.message_id
    assert message["Message-ID"].endswith("@office.example.cn>")
    assert email.utils.parsedate_to_datetime(message["Date"]) == NOW
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    text, html = alternative.iter_parts()
    assert (text.get_content_type(), text.get_content().strip()) == ("text/plain", "请查收附件。")
    assert (html.get_content_type(), html.get_content().strip()) == ("text/html", "<p>请查收<b>附件</b>。</p>")
    assert attachment.get_content_type() == XLSX
    assert attachment.get_filename() == "2026-10 月报.xlsx"
    assert attachment.get_content() == report

    row = _row("report:2026-10:user:3")
    assert (row.status, row.attempts, row.sent_at, row.last_error) == ("sent", 1, NOW, None)
    assert row.claim_token is None


def test_text_only_message_is_plain_text(smtp_up):
    _queue("digest:2026-11-24:user:8", text="今天没有待办。")
    deliver_pending(NOW)
    (message,) = smtp_up.handler.messages()
    assert message.get_content_type() == "text/plain"
    assert message.get_content().strip() == "今天没有待办。"


def test_running_delivery_twice_sends_nothing_twice(smtp_up):
    _queue("digest:2026-11-24:user:7")
    _queue("digest:2026-11-24:user:8")
    assert deliver_pending(NOW).sent == 2
    assert deliver_pending(NOW).sent == 0
    assert deliver_pending(NOW + timedelta(days=1)).sent == 0
    assert len(smtp_up.handler.envelopes) == 2


def test_not_due_yet_is_not_sent(smtp_up):
    _queue("digest:2026-11-25:user:7", now=NOW + timedelta(hours=1))
    assert deliver_pending(NOW).sent == 0
    assert deliver_pending(NOW + timedelta(hours=1)).sent == 1


def test_server_down_backs_off_then_delivers(smtp):
    _queue("digest:2026-11-24:user:7")
    _queue("digest:2026-11-24:user:8")

    summary = deliver_pending(NOW)  # nothing listens on the port
    assert (summary.sent, summary.retrying) == (0, 1)
    assert "cannot connect" in summary.stopped
    first = _row("digest:2026-11-24:user:7")
    assert (first.status, first.attempts, first.next_attempt_at) == ("pending", 1, NOW + timedelta(minutes=1))
    assert "cannot connect to 127.0.0.1" in first.last_error
    # The run stopped at the unreachable server instead of trying every message.
    assert _row("digest:2026-11-24:user:8").attempts == 0

    minutes = lambda m: NOW + timedelta(minutes=m)
    assert deliver_pending(minutes(1)).retrying == 1  # the oldest due first: user 8's turn
    assert _row("digest:2026-11-24:user:8").next_attempt_at == minutes(2)
    assert deliver_pending(minutes(1.5)).retrying == 1  # user 7, second attempt: 2 minutes
    second_try = _row("digest:2026-11-24:user:7")
    assert (second_try.attempts, second_try.next_attempt_at) == (2, minutes(3.5))
    assert deliver_pending(minutes(1.75)).retrying == 0  # both backing off: no attempt at all
    assert deliver_pending(minutes(2)).retrying == 1  # user 8 again, next at 4 minutes

    smtp.start()
    assert deliver_pending(minutes(3.5)).sent == 1
    assert _row("digest:2026-11-24:user:8").status == "pending"
    assert deliver_pending(minutes(4)).sent == 1
    assert sorted(e.rcpt_tos[0] for e in smtp.handler.envelopes) == ["clerk@office.example.cn"] * 2
    assert [_row(k).status for k in ("digest:2026-11-24:user:7", "digest:2026-11-24:user:8")] == ["sent"] * 2


def test_backoff_doubles_up_to_an_hour():
    assert [outbox.retry_delay(n) for n in (1, 2, 3, 4, 6, 7, 8, 50)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 8, 32, 60, 60, 60)]


def test_gives_up_after_two_days(smtp):
    _queue("digest:2026-11-22:user:7", now=NOW - timedelta(days=2))
    summary = deliver_pending(NOW)
    assert summary.failed == 1
    row = _row("digest:2026-11-22:user:7")
    assert row.status == "failed_permanently"
    assert row.last_error.startswith("gave up after 1 attempt(s): cannot connect")
    assert deliver_pending(NOW + timedelta(days=1)).failed == 0


def test_recipient_refused_with_5xx_fails_permanently_others_still_go(smtp_up):
    smtp_up.handler.refused["gone@example.org"] = "550 5.1.1 No such user here"
    _queue("digest:2026-11-24:user:7", "gone@example.org")
    _queue("digest:2026-11-24:user:8", "clerk@office.example.cn")
    summary = deliver_pending(NOW)
    assert (summary.sent, summary.failed) == (1, 1)
    refused = _row("digest:2026-11-24:user:7")
    assert refused.status == "failed_permanently"
    assert "550" in refused.last_error and "No such user here" in refused.last_error
    assert [e.rcpt_tos for e in smtp_up.handler.envelopes] == [["clerk@office.example.cn"]]
    assert deliver_pending(NOW + timedelta(days=1)).failed == 0  # never tried again


def test_recipient_deferred_with_4xx_is_retried(smtp_up):
    smtp_up.handler.refused["busy@example.org"] = "450 4.2.1 Mailbox busy, try later"
    _queue("digest:2026-11-24:user:7", "busy@example.org")
    summary = deliver_pending(NOW)
    assert (summary.sent, summary.retrying, summary.stopped) == (0, 1, None)
    row = _row("digest:2026-11-24:user:7")
    assert (row.status, row.next_attempt_at) == ("pending", NOW + timedelta(minutes=1))
    assert "450" in row.last_error
    del smtp_up.handler.refused["busy@example.org"]
    assert deliver_pending(NOW + timedelta(minutes=1)).sent == 1
    assert [e.rcpt_tos for e in smtp_up.handler.envelopes] == [["busy@example.org"]]


def _crash_while_sending(key: str, claimed_at: datetime) -> None:
    """The state a deliverer leaves when it dies after claiming (maybe after the server accepted)."""
    with transactional():
        db.session.execute(sa.update(OutboxMessage).where(OutboxMessage.key == key).values(
            status="sending", claimed_at=claimed_at, claim_token="dead-deliverer", attempts=1))


def test_fresh_claim_is_left_alone_stale_claim_is_sent_again(smtp_up):
    _queue("digest:2026-11-24:user:7")
    _crash_while_sending("digest:2026-11-24:user:7", NOW - timedelta(minutes=5))
    assert deliver_pending(NOW).sent == 0  # maybe still being sent by a live deliverer
    assert deliver_pending(NOW + outbox.CLAIM_TIMEOUT).sent == 1
    row = _row("digest:2026-11-24:user:7")
    assert (row.status, row.attempts, row.claim_token) == ("sent", 2, None)
    assert len(smtp_up.handler.envelopes) == 1


def test_job_function_commits_each_message_inside_the_job_transaction(smtp_up):
    _queue("digest:2026-11-24:user:7")
    with transactional():  # as caseflow.jobs.Job.run wraps every job
        assert deliver_outbox(NOW) == "1 email(s) sent, 0 to retry, 0 failed permanently"
    assert _row("digest:2026-11-24:user:7").status == "sent"


def _deliver_concurrently(app, deliverers: int) -> list:
    barrier, summaries, errors = threading.Barrier(deliverers), [], []

    def run():
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                summaries.append(deliver_pending(NOW))
            except Exception as error:  # noqa: BLE001 - a thread reports every error to the test
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(deliverers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return summaries


def test_two_concurrent_deliverers_send_each_message_exactly_once(app, smtp_up):
    keys = [f"digest:2026-11-24:user:{n}" for n in range(12)]
    for key in keys:
        _queue(key)
    smtp_up.handler.rendezvous = 2  # both deliverers hold a message at the same time

    summaries = _deliver_concurrently(app, 2)

    assert sorted(s.sent for s in summaries) != [0, 12]  # both took part
    assert sum(s.sent for s in summaries) == 12
    message_ids = [m["Message-ID"] for m in smtp_up.handler.messages()]
    assert len(message_ids) == len(set(message_ids)) == 12
    assert {_row(k).status for k in keys} == {"sent"}
    assert {_row(k).attempts for k in keys} == {1}


def test_eml_files_in_development(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "CASEFLOW_SMTP_HOST", None)
    monkeypatch.setitem(app.config, "CASEFLOW_OUTBOX_DIR", str(tmp_path / "outbox"))
    queued = _queue("digest:2026-11-24:user:7", subject="今日待办", html="<p>待办</p>")
    _queue("report:2026-10/../../etc:user:3", attachments=[("r.xlsx", XLSX, b"xlsx")])

    assert deliver_pending(NOW).sent == 2
    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert files == ["digest:2026-11-24:user:7.eml", "report:2026-10%2F%2E%2E%2F%2E%2E%2Fetc:user:3.eml"]
    first = tmp_path / "outbox" / files[0]
    message = email.message_from_bytes(first.read_bytes(), policy=policy.default)
    assert (message["Subject"], message["Message-ID"]) == ("今日待办", queued.message_id)
    written = first.read_bytes()

    # The commit of "sent" was lost after the file was written: the retry finds it and writes nothing.
    _crash_while_sending("digest:2026-11-24:user:7", NOW - outbox.CLAIM_TIMEOUT)
    assert deliver_pending(NOW).sent == 1
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == files
    assert first.read_bytes() == written
    assert _row("digest:2026-11-24:user:7").status == "sent"
    assert deliver_pending(NOW).sent == 0


@pytest.mark.parametrize("to, subject", [("", "s"), ("not-an-address", "s"), ("a@example.org", "s\r\nBcc: x@y")])
def test_bad_address_or_header_injection_is_refused_at_queue_time(to, subject):
    with pytest.raises(ValueError):
        queue_email("k", to, subject, "t", now=NOW)
