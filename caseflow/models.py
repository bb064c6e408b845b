"""Database models (SQLAlchemy 2.0 typed declarative). Datetimes are stored as naive UTC and come back
timezone-aware; money is integer fen; workflow-specific form data lives in ``Case.data``."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, query_expression, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from caseflow.extensions import db


class UTCDateTime(sa.types.TypeDecorator):
    """Aware datetimes in Python, naive UTC in the database (SQLite has no time zones)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; caseflow stores aware UTC datetimes")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Jurisdiction(db.Model):
    """A township (乡镇) or one of its villages (村/社区)."""

    __tablename__ = "jurisdiction"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str | None] = mapped_column(sa.String(100))
    kind: Mapped[str] = mapped_column(sa.String(16))  # township | village
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("jurisdiction.id"), index=True)

    parent: Mapped[Jurisdiction | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Jurisdiction]] = relationship(back_populates="parent", order_by="Jurisdiction.code")

    __table_args__ = (sa.CheckConstraint("kind in ('township', 'village')", name="kind"),)

    def label(self, locale: str) -> str:
        return (self.name_en or self.name) if str(locale).startswith("en") else self.name


user_jurisdiction = sa.Table(
    "user_jurisdiction",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("jurisdiction_id", sa.ForeignKey("jurisdiction.id", ondelete="CASCADE"), primary_key=True),
)


class UserRole(db.Model):
    __tablename__ = "user_role"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(sa.String(32), primary_key=True)


class User(UserMixin, db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    email: Mapped[str | None] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    locale: Mapped[str] = mapped_column(sa.String(8), default="zh")
    active: Mapped[bool] = mapped_column(default=True)
    is_demo: Mapped[bool] = mapped_column(default=False, index=True)
    # The daily reminder email (services/digests.py); each user can turn it off on their profile page.
    daily_digest: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    role_rows: Mapped[list[UserRole]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    jurisdictions: Mapped[list[Jurisdiction]] = relationship(secondary=user_jurisdiction, lazy="selectin")

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(r.role for r in self.role_rows)

    def set_roles(self, roles: set[str] | frozenset[str] | list[str]) -> None:
        keep = set(roles)
        self.role_rows = [r for r in self.role_rows if r.role in keep] + [
            UserRole(role=r) for r in sorted(keep - self.roles)
        ]

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def set_password(self, password: str) -> None:
        # Werkzeug's method string; scrypt unless the operator (or the fast test suite) says otherwise.
        self.password_hash = generate_password_hash(password, method=current_app.config["CASEFLOW_PASSWORD_HASH"])

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        """The session's reference to this user. It carries a piece of the password hash, so a new
        password (set by the user or an admin) ends every other session (see ``load_user``)."""
        return f"{self.id}.{self.session_stamp}"

    @property
    def session_stamp(self) -> str:
        return self.password_hash[-12:]


class ApiToken(db.Model):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class Person(db.Model):
    """An applicant. Only people who applied (or are party to a procedure) are ever recorded."""

    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[str] = mapped_column(sa.String(18), unique=True)
    name: Mapped[str] = mapped_column(sa.String(50))
    phone: Mapped[str | None] = mapped_column(sa.String(20))

    @property
    def masked_resident_id(self) -> str:
        return mask_resident_id(self.resident_id)


def mask_resident_id(value: str) -> str:
    """Show the region code and the last four characters only: 110101********1234."""
    return value[:6] + "*" * (len(value) - 10) + value[-4:] if len(value) > 10 else "*" * len(value)


class Case(db.Model):
    """One case of any workflow. Its state changes only through ``services.apply_transition``."""

    __tablename__ = "case"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    pin: Mapped[str | None] = mapped_column(sa.String(8))
    workflow: Mapped[str] = mapped_column(sa.String(40))
    workflow_version: Mapped[int]
    state: Mapped[str] = mapped_column(sa.String(40), index=True)
    version: Mapped[int] = mapped_column(default=1)
    jurisdiction_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdiction.id"))
    applicant_id: Mapped[int] = mapped_column(sa.ForeignKey("person.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state_entered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    target_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline_provisional: Mapped[bool] = mapped_column(default=False)
    paused_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_seconds: Mapped[int] = mapped_column(default=0)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(sa.String(40))
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # When retention removed the sensitive details of a closed case (its statistical record stays).
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Steps finished after their legal deadline: the monthly report's on-time rate counts cases with none.
    late_steps: Mapped[int] = mapped_column(default=0, server_default="0")
    # The last link of the case's audit chain, loaded with the case where a step locks it (services/audit.py
    # LAST_LINK), so the step's event needs no query to find it; None when not loaded that way.
    last_event_seq: Mapped[int | None] = query_expression()
    last_event_hash: Mapped[str | None] = query_expression()

    jurisdiction: Mapped[Jurisdiction] = relationship()
    applicant: Mapped[Person] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.seq", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.Index("ix_case_assignee_due", "assignee_id", "due_at"),
        sa.Index("ix_case_open_jurisdiction_due", "jurisdiction_id", "due_at", "id",
                 sqlite_where=sa.text("closed_at IS NULL"), postgresql_where=sa.text("closed_at IS NULL")),
        sa.Index("ix_case_workflow_state", "workflow", "state"),
        # The lists walk these in their order, a page at a time: open cases by deadline, and the team queue's
        # open or closed cases by opening or by time in state (services/queues.py, migration c9d4e6f8a2b7).
        # The open ones carry the village (and the deadline's the opening time), checked without reading the
        # row (migration f9a3c5e7b1d2).
        sa.Index("ix_case_open_by_due", "due_at", "id", "jurisdiction_id", "opened_at",
                 sqlite_where=sa.text("closed_at IS NULL"), postgresql_where=sa.text("closed_at IS NULL")),
        sa.Index("ix_case_open_by_opened_at", "opened_at", "id", "jurisdiction_id",
                 sqlite_where=sa.text("closed_at IS NULL"), postgresql_where=sa.text("closed_at IS NULL")),
        sa.Index("ix_case_closed_opened_at", "opened_at", "id",
                 sqlite_where=sa.text("closed_at IS NOT NULL"), postgresql_where=sa.text("closed_at IS NOT NULL")),
        sa.Index("ix_case_open_by_state_entered_at", "state_entered_at", "id", "jurisdiction_id",
                 sqlite_where=sa.text("closed_at IS NULL"), postgresql_where=sa.text("closed_at IS NULL")),
        sa.Index("ix_case_closed_state_entered_at", "state_entered_at", "id",
                 sqlite_where=sa.text("closed_at IS NOT NULL"), postgresql_where=sa.text("closed_at IS NOT NULL")),
        # My queue's counts and own cases, the team queue's counts by assignee (from the index alone), and the
        # unassigned cases by deadline: My queue reads their page from the index alone, whose assignee and
        # closing time are NULL but named for SQLite to see that (migration a7d3f9c2e5b8).
        sa.Index("ix_case_open_assignee", "assignee_id", "jurisdiction_id", "workflow",
                 sqlite_where=sa.text("closed_at IS NULL"), postgresql_where=sa.text("closed_at IS NULL")),
        sa.Index("ix_case_unassigned_queue",
                 "due_at", "id", "jurisdiction_id", "opened_at", "workflow", "assignee_id", "closed_at",
                 sqlite_where=sa.text("closed_at IS NULL AND assignee_id IS NULL"),
                 postgresql_where=sa.text("closed_at IS NULL AND assignee_id IS NULL")),
        # The team queue's open cases of one state by deadline (the village checked in the index), and its
        # open cases by receipt number (migration f9a3c5e7b1d2).
        sa.Index("ix_case_open_workflow_state", "workflow", "state", "due_at", "id", "jurisdiction_id",
                 sqlite_where=sa.text("closed_at IS NULL"), postgresql_where=sa.text("closed_at IS NULL")),
        sa.Index("ix_case_open_number", "number", "id",
                 sqlite_where=sa.text("closed_at IS NULL"), postgresql_where=sa.text("closed_at IS NULL")),
        sa.Index("ix_case_closed_at", "closed_at"),
        # The monthly report and the dashboard count a township's cases opened and closed in a period, its
        # open cases, and those moved on since a month's end though opened before it, from these alone
        # (services/report_figures.py, migrations f4c8e2a6b1d9, a3c7e9b2d4f6). The team queue reads a range of
        # opening or closing dates from the first two alone, open and closed cases told apart, and sorts the
        # closings by opening time (migration a7d3f9c2e5b8).
        sa.Index("ix_case_jurisdiction_opening", "jurisdiction_id", "opened_at", "workflow", "closed_at", "id"),
        sa.Index("ix_case_jurisdiction_closing",
                 "jurisdiction_id", "closed_at", "workflow", "late_steps", "id", "opened_at"),
        sa.Index("ix_case_jurisdiction_state_entered_at",
                 "jurisdiction_id", "state_entered_at", "opened_at", "id"),
        sa.Index("ix_case_open_jurisdiction",
                 "jurisdiction_id", "workflow", "state_entered_at", "opened_at", "due_at", "id",
                 sqlite_where=sa.text("closed_at IS NULL"), postgresql_where=sa.text("closed_at IS NULL")),
    )

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


class CaseEvent(db.Model):
    """Append-only audit trail. Each event's hash covers its content and the previous event's hash."""

    __tablename__ = "case_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case.id", ondelete="CASCADE"))
    seq: Mapped[int]
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    trigger: Mapped[str] = mapped_column(sa.String(40))
    from_state: Mapped[str | None] = mapped_column(sa.String(40))
    to_state: Mapped[str] = mapped_column(sa.String(40))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))

    case: Mapped[Case] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("case_id", "seq"),
        # The monthly report reads the month's events of the steps it counts (services/report_figures.py).
        sa.Index("ix_case_event_trigger_at", "trigger", "at"),
    )


class CalendarOverride(db.Model):
    """A local exception to the national calendar: an office closure or an extra working day."""

    __tablename__ = "calendar_override"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, unique=True)
    is_working_day: Mapped[bool]
    note: Mapped[str] = mapped_column(sa.String(200))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeadlineSetting(db.Model):
    """An admin's change to a workflow's shipped deadline for one state (provinces differ).

    Only the number changes; the unit (working days, calendar days, hours) stays the workflow's.
    """

    __tablename__ = "deadline_setting"

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow: Mapped[str] = mapped_column(sa.String(40))
    workflow_version: Mapped[int]
    state: Mapped[str] = mapped_column(sa.String(40))
    limit_amount: Mapped[int]
    target_amount: Mapped[int | None]
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.UniqueConstraint("workflow", "workflow_version", "state"),
        sa.CheckConstraint("limit_amount >= 0 AND (target_amount IS NULL OR target_amount >= 0)",
                           name="non_negative"),
    )


class NumberSequence(db.Model):
    """Counters for human receipt numbers, one row per prefix and year."""

    __tablename__ = "number_sequence"

    key: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


class CaseRead(db.Model):
    """One opening of a need-to-know case: who, when, and what they looked at (个人信息保护法 第28条)."""

    __tablename__ = "case_read"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    what: Mapped[str] = mapped_column(sa.String(80))

    user: Mapped[User] = relationship()

    __table_args__ = (sa.Index("ix_case_read_case_at", "case_id", "at"),)


class Attachment(db.Model):
    """A file on a case. The bytes live outside the web root, named by their SHA-256."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    uploaded_by: Mapped[User | None] = relationship()


class Comment(db.Model):
    """A note on a case by someone handling it; not part of the decision record."""

    __tablename__ = "comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(sa.Text)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    author: Mapped[User | None] = relationship()


class SubsidyScheme(db.Model):
    """A subsidy an applicant can be enrolled in (奖扶, 特扶, 育儿补贴): office configuration, amounts in fen."""

    __tablename__ = "subsidy_scheme"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str | None] = mapped_column(sa.String(100))
    annual_fen: Mapped[int]
    frequency: Mapped[str] = mapped_column(sa.String(16))  # annual | quarterly | monthly
    eligibility_notes: Mapped[str] = mapped_column(sa.Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("annual_fen >= 0", name="non_negative"),
        sa.CheckConstraint("frequency in ('annual', 'quarterly', 'monthly')", name="frequency"),
    )

    def label(self, locale: str) -> str:
        return (self.name_en or self.name) if str(locale).startswith("en") else self.name


class FeeType(db.Model):
    """A kind of administrative fee or penalty the office may pursue: office configuration.

    ``abolished`` types (社会抚养费, abolished in 2021) exist only for legacy records, which are read-only.
    """

    __tablename__ = "fee_type"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str | None] = mapped_column(sa.String(100))
    legal_basis: Mapped[str] = mapped_column(sa.Text)
    delegated_to_township: Mapped[bool]
    active: Mapped[bool] = mapped_column(default=True)
    abolished: Mapped[bool] = mapped_column(default=False)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def label(self, locale: str) -> str:
        return (self.name_en or self.name) if str(locale).startswith("en") else self.name


# ------------------------------------------------------------------------------ subsidy (WORKFLOWS §3)

class SubsidyEnrolment(db.Model):
    """What a subsidy case enrols: the scheme, the child (育儿补贴), the enrolment period and the payee
    account. One per subsidy case, created when the case is opened; the case's state says whether it is
    being verified, enrolled, suspended or ended."""

    __tablename__ = "subsidy_enrolment"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case.id", ondelete="CASCADE"), unique=True)
    scheme_id: Mapped[int] = mapped_column(sa.ForeignKey("subsidy_scheme.id"), index=True)
    child_name: Mapped[str | None] = mapped_column(sa.String(50))
    child_birth_date: Mapped[date | None] = mapped_column(sa.Date)
    starts_on: Mapped[date | None] = mapped_column(sa.Date)
    # First day no longer paid (exclusive): the 3rd birthday for 育儿补贴, or the scheduled exit.
    ends_on: Mapped[date | None] = mapped_column(sa.Date)
    reconfirmed_year: Mapped[int | None]
    bank_name: Mapped[str | None] = mapped_column(sa.String(100))
    bank_account: Mapped[str | None] = mapped_column(sa.String(34))
    notice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("public_notice.id"), index=True)

    case: Mapped[Case] = relationship()
    scheme: Mapped[SubsidyScheme] = relationship()

    __table_args__ = (sa.CheckConstraint("ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on",
                                         name="period"),)


class PublicNotice(db.Model):
    """One posting (公示) of the names of a village's applicants, for a period. A changed list is a new
    notice (``replaces_id``), never an edit of a posted one."""

    __tablename__ = "public_notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdiction.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    replaces_id: Mapped[int | None] = mapped_column(sa.ForeignKey("public_notice.id"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    jurisdiction: Mapped[Jurisdiction] = relationship()
    entries: Mapped[list[PublicNoticeEntry]] = relationship(back_populates="notice", order_by="PublicNoticeEntry.id")


class PublicNoticeEntry(db.Model):
    """A case named on a notice, and any objection raised against it (the objector may stay anonymous)."""

    __tablename__ = "public_notice_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(sa.ForeignKey("public_notice.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case.id", ondelete="CASCADE"), index=True)
    objector: Mapped[str | None] = mapped_column(sa.String(100))
    objection: Mapped[str | None] = mapped_column(sa.Text)
    objected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    notice: Mapped[PublicNotice] = relationship(back_populates="entries")
    case: Mapped[Case] = relationship()

    __table_args__ = (sa.UniqueConstraint("notice_id", "case_id"),)


class PaymentBatch(db.Model):
    """The payments of one scheme for one period ("2026", "2026Q4", "2026-11") in one township (all its
    villages): at most one batch each."""

    __tablename__ = "payment_batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    scheme_id: Mapped[int] = mapped_column(sa.ForeignKey("subsidy_scheme.id"))
    township_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdiction.id"))
    period: Mapped[str] = mapped_column(sa.String(10))
    period_start: Mapped[date] = mapped_column(sa.Date)
    period_end: Mapped[date] = mapped_column(sa.Date)  # exclusive
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    scheme: Mapped[SubsidyScheme] = relationship()
    township: Mapped[Jurisdiction] = relationship()
    payments: Mapped[list[Payment]] = relationship(back_populates="batch", order_by="Payment.id")

    __table_args__ = (sa.UniqueConstraint("scheme_id", "township_id", "period"),
                      sa.CheckConstraint("period_end > period_start", name="period"))


class Payment(db.Model):
    """What one enrolment is owed for a batch's period. Its status is that of its latest attempt."""

    __tablename__ = "payment"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(sa.ForeignKey("payment_batch.id", ondelete="CASCADE"))
    enrolment_id: Mapped[int] = mapped_column(sa.ForeignKey("subsidy_enrolment.id"), index=True)
    months: Mapped[int]
    amount_fen: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")  # pending | paid | failed
    # Optimistic lock: two clerks recording the bank's answer at once cannot both win.
    version: Mapped[int] = mapped_column(default=1)

    batch: Mapped[PaymentBatch] = relationship(back_populates="payments")
    enrolment: Mapped[SubsidyEnrolment] = relationship()
    attempts: Mapped[list[PaymentAttempt]] = relationship(back_populates="payment", order_by="PaymentAttempt.seq")

    __table_args__ = (
        sa.UniqueConstraint("batch_id", "enrolment_id"),
        sa.CheckConstraint("amount_fen >= 0", name="non_negative"),
        sa.CheckConstraint("months >= 0 AND months <= 12", name="months"),
        sa.CheckConstraint("status in ('pending', 'paid', 'failed')", name="status"),
        sa.Index("ix_payment_batch_status", "batch_id", "status"),
    )
    __mapper_args__ = {"version_id_col": version}


class PaymentAttempt(db.Model):
    """One transfer instruction sent to the bank for a payment; a failed one is followed by a new attempt
    (``retry_of_id``) to the corrected account, and none follows a paid one."""

    __tablename__ = "payment_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(sa.ForeignKey("payment.id", ondelete="CASCADE"))
    seq: Mapped[int]
    reference: Mapped[str] = mapped_column(sa.String(40), unique=True)
    bank_name: Mapped[str | None] = mapped_column(sa.String(100))
    bank_account: Mapped[str] = mapped_column(sa.String(34))
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")
    failure_reason: Mapped[str | None] = mapped_column(sa.String(300))
    retry_of_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payment_attempt.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    marked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    marked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))

    payment: Mapped[Payment] = relationship(back_populates="attempts")

    __table_args__ = (
        sa.UniqueConstraint("payment_id", "seq"),
        sa.CheckConstraint("status in ('pending', 'paid', 'failed')", name="status"),
    )


class FeeAccount(db.Model):
    """The money of one fee case, in fen: what was notified, decided and paid, and the late charge.

    Kept in step with the case by ``services.fees`` (workflow hooks and payment services); outstanding =
    decided + late charge − principal paid − late charge paid.
    """

    __tablename__ = "fee_account"

    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case.id", ondelete="CASCADE"), primary_key=True)
    fee_type_id: Mapped[int] = mapped_column(sa.ForeignKey("fee_type.id"))
    notified_fen: Mapped[int | None]
    decided_fen: Mapped[int | None]
    paid_principal_fen: Mapped[int] = mapped_column(default=0)
    late_charge_fen: Mapped[int] = mapped_column(default=0)
    late_charge_paid_fen: Mapped[int] = mapped_column(default=0)
    late_charge_as_of: Mapped[date | None] = mapped_column(sa.Date)
    payment_due_on: Mapped[date | None] = mapped_column(sa.Date)
    last_state: Mapped[str] = mapped_column(sa.String(40))

    fee_type: Mapped[FeeType] = relationship()
    payments: Mapped[list[FeePayment]] = relationship(order_by="FeePayment.paid_on, FeePayment.id",
                                                      cascade="all, delete-orphan")
    instalments: Mapped[list[FeeInstalment]] = relationship(order_by="FeeInstalment.seq",
                                                            cascade="all, delete-orphan")

    __table_args__ = (
        sa.CheckConstraint("paid_principal_fen >= 0 AND late_charge_fen >= 0 AND late_charge_paid_fen >= 0",
                           name="non_negative"),
        sa.Index("ix_fee_account_payment_due_on", "payment_due_on"),
    )


class FeePayment(db.Model):
    """One payment received on a fee case (partial payments allowed), with its receipt reference."""

    __tablename__ = "fee_payment"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("fee_account.case_id", ondelete="CASCADE"), index=True)
    paid_on: Mapped[date] = mapped_column(sa.Date)
    amount_fen: Mapped[int]
    principal_fen: Mapped[int]
    late_charge_fen: Mapped[int]
    receipt_ref: Mapped[str] = mapped_column(sa.String(64))
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("amount_fen > 0 AND amount_fen = principal_fen + late_charge_fen", name="split"),
    )


class FeeInstalment(db.Model):
    """One instalment of an approved plan (行政处罚法 第66条)."""

    __tablename__ = "fee_instalment"

    case_id: Mapped[int] = mapped_column(sa.ForeignKey("fee_account.case_id", ondelete="CASCADE"),
                                         primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    due_on: Mapped[date] = mapped_column(sa.Date)
    amount_fen: Mapped[int]

    __table_args__ = (sa.CheckConstraint("amount_fen > 0", name="positive"),)


class OutboxMessage(db.Model):
    """One email to send, written in the same transaction as what caused it (see services/outbox.py).

    ``key`` is the effect's idempotency key ("digest:2026-11-24:user:7"): queuing the same effect twice
    leaves one row. ``message_id`` is fixed at queue time, so a copy resent after a crash mid-send carries
    the same Message-ID and a mail client or the recipient can recognise it.
    Status: pending → sending (claimed by one deliverer) → sent | failed_permanently; a failed attempt
    goes back to pending with a later ``next_attempt_at``.
    """

    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    to_address: Mapped[str] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.String(500))
    text_body: Mapped[str] = mapped_column(sa.Text)
    html_body: Mapped[str | None] = mapped_column(sa.Text)
    # [{"filename", "content_type", "base64"}]: small files only (a monthly report's XLSX).
    attachments: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON, default=list)
    message_id: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(24), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(sa.String(32))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("status in ('pending', 'sending', 'sent', 'failed_permanently')", name="status"),
        # The delivery query: due pending messages, and stale claims, by status then time.
        sa.Index("ix_outbox_message_status_next_attempt_at", "status", "next_attempt_at"),
    )


class JobRun(db.Model):
    """One run of a scheduler job. A scheduled run is keyed by its cron slot: the unique (job,
    scheduled_for) is claimed in its own transaction before the job starts, so no slot runs twice, whichever
    process gets there first. Runs by hand (``caseflow jobs run``) and runs at leader start have no slot."""

    __tablename__ = "job_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(sa.String(64))
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the cron slot; None off-schedule
    clock: Mapped[datetime] = mapped_column(UTCDateTime)  # the `now` the job ran with
    trigger: Mapped[str] = mapped_column(sa.String(16))  # scheduled | makeup | manual | start
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(sa.String(16), default="running")  # running | ok | failed
    summary: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        sa.UniqueConstraint("job", "scheduled_for"),
        sa.CheckConstraint("trigger in ('scheduled', 'makeup', 'manual', 'start')", name="trigger"),
        sa.CheckConstraint("outcome in ('running', 'ok', 'failed')", name="outcome"),
        sa.Index("ix_job_run_started_at", "started_at"),
    )


class Reminder(db.Model):
    """A notification to one user that a case they hold turned yellow or red (see services/reminders.py).

    Unique per recipient, case, kind and deadline: the scan raises each reminder once; a new deadline (the
    case moved on, or it was recomputed) is a new reminder.
    """

    __tablename__ = "reminder"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(8))  # yellow | red
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[Case] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("user_id", "case_id", "kind", "due_at"),
        sa.CheckConstraint("kind in ('yellow', 'red')", name="kind"),
        sa.Index("ix_reminder_user_read", "user_id", "read_at"),
    )


class VillageReminder(db.Model):
    """A notification to one supervisor that cases of one of their villages turned red on one office day:
    how many (and how many of them nobody holds), not which (see services/reminders.py).

    Unique per recipient, village and day: each scan that day adds the cases it found turning red to the
    day's one reminder, and makes it unread again.
    """

    __tablename__ = "village_reminder"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    village_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdiction.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(sa.Date)  # office-local day of the scans
    cases: Mapped[int] = mapped_column(sa.Integer)
    unassigned: Mapped[int] = mapped_column(sa.Integer)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the latest scan that added cases
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    village: Mapped[Jurisdiction] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("user_id", "village_id", "day"),
        sa.Index("ix_village_reminder_user_read", "user_id", "read_at"),
    )


class CaseDeadline(db.Model):
    """An open case's running legal deadline as the deadline scan watches it, with the light it last reminded
    about (services/reminders.py): one row per open case that has a deadline.

    Its rows are written by database triggers on ``case`` (migration d2f6a8c4e1b3), in the transaction that
    changes the case; the application only marks them (the scan). A case opened, or one whose ``due_at``,
    assignee or closing changed, has its row remember no light (the scan reminds about the new deadline or
    the new holder); a closed case, or one whose clock stopped, loses it. The scan marks the light here, not
    on ``case``: the mark rewrites a row with two indexes instead of one with twenty (issue 6).
    ``jurisdiction_id``, ``workflow`` and ``assignee_id`` are copies of the case's, so the scan decides whom
    to tell from these rows alone.
    """

    __tablename__ = "case_deadline"

    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case.id", ondelete="CASCADE"), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # "yellow" or "red": the light last reminded about for this deadline and holder; NULL: none yet.
    reminded_light: Mapped[str | None] = mapped_column(sa.String(8))
    # This deadline, passed, was counted in its village's reminders: once per deadline, so a case handed to
    # someone else (its light forgotten, its deadline kept) is not counted again; a new deadline is.
    red_counted: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Copies kept by the triggers, so no foreign keys of their own: the case's are the ones that hold, and
    # each would cost every transition a lookup (and a row lock) more.
    jurisdiction_id: Mapped[int]
    workflow: Mapped[str] = mapped_column(sa.String(40))
    assignee_id: Mapped[int | None]

    __table_args__ = (
        # The scan's candidates: by remembered light and deadline, two ranges.
        sa.Index("ix_case_deadline_scan", "reminded_light", "due_at"),
    )


class Report(db.Model):
    """The monthly meeting report (每月例会) of one township for one month, as generated.

    ``data`` holds every figure (see services/reports.py); a report generated again on demand replaces
    them. ``emailed_at`` is set once the report went to the township's supervisors, so the scheduler sends
    it once however often the job runs.
    """

    __tablename__ = "report"

    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdiction.id"))
    month: Mapped[str] = mapped_column(sa.String(7))  # "2026-10", office local time
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    generated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    township: Mapped[Jurisdiction] = relationship()
    generated_by: Mapped[User | None] = relationship()

    __table_args__ = (sa.UniqueConstraint("township_id", "month"),)


# ------------------------------------------------------------------------------ supervisors and applicants

class SavedFilter(db.Model):
    """A team-queue filter a user saved under a name. The filter is kept as the queue's query string, so a
    saved filter is also a link anyone with access to the team queue can open (it shows only what they
    may see)."""

    __tablename__ = "saved_filter"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(100))
    query: Mapped[str] = mapped_column(sa.String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("user_id", "name"),)


class Leave(db.Model):
    """A period a user is away (inclusive dates). New work is not assigned to them meanwhile, and their open
    cases are offered for reassignment, or to ``delegate``."""

    __tablename__ = "leave"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    starts_on: Mapped[date] = mapped_column(sa.Date)
    ends_on: Mapped[date] = mapped_column(sa.Date)
    reason: Mapped[str] = mapped_column(sa.String(200))
    delegate_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    delegate: Mapped[User | None] = relationship(foreign_keys=[delegate_id])

    @classmethod
    def covering(cls, day: date) -> sa.ColumnElement[bool]:
        """The SQL condition for leave under way on ``day`` (both ends included)."""
        return sa.and_(cls.starts_on <= day, cls.ends_on >= day)

    __table_args__ = (
        sa.CheckConstraint("ends_on >= starts_on", name="period"),
        sa.Index("ix_leave_user_ends_on", "user_id", "ends_on"),
    )


class Rating(db.Model):
    """An applicant's 好差评 rating of their closed case: one per case, five levels (5 非常满意 … 1 非常不满意)."""

    __tablename__ = "rating"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case.id", ondelete="CASCADE"), unique=True)
    level: Mapped[int]
    comment: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    case: Mapped[Case] = relationship()

    __table_args__ = (sa.CheckConstraint("level BETWEEN 1 AND 5", name="level"),)


class FollowUp(db.Model):
    """A supervisor's task opened by a bad rating (差评): look into it, answer the applicant, record what was
    done. Open until a supervisor closes it with a resolution."""

    __tablename__ = "follow_up"

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(sa.ForeignKey("rating.id", ondelete="CASCADE"), unique=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case.id", ondelete="CASCADE"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    status: Mapped[str] = mapped_column(sa.String(8), default="open")  # open | done
    resolution: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))

    rating: Mapped[Rating] = relationship()
    case: Mapped[Case] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])

    __table_args__ = (
        sa.CheckConstraint("status in ('open', 'done')", name="status"),
        sa.Index("ix_follow_up_status", "status", "created_at"),
    )
