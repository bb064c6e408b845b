"""User accounts, roles, jurisdictions, passwords and API tokens."""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.orm import joinedload
from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from caseflow.calendar import utcnow
from caseflow.extensions import db
from caseflow.models import ApiToken, Jurisdiction, User
from caseflow.services.errors import INVALID_DATA, PermissionDenied, ValidationFailed
from caseflow.workflows.definition import ROLES, SYSTEM, Text

ADMIN_ONLY = Text("只有管理员可以管理用户和辖区。", "Only an administrator may manage users and jurisdictions.")
USERNAME_TAKEN = Text("该用户名已被使用。", "That username is taken.")
BAD_USERNAME = Text("用户名只能包含字母、数字、点、横线和下划线（2–64 个字符）。",
                    "Use 2–64 letters, digits, dots, dashes or underscores.")
SHORT_PASSWORD = Text("密码至少 10 个字符。", "The password needs at least 10 characters.")
UNKNOWN_ROLE = Text("未知角色。", "Unknown role.")
NO_ROLE = Text("至少选择一个角色。", "Choose at least one role.")
CODE_TAKEN = Text("该编码已被使用。", "That code is taken.")
NEEDS_TOWNSHIP = Text("村（社区）必须属于一个乡镇。", "A village must belong to a township.")
NAME_REQUIRED = Text("请填写名称。", "Enter a name.")
UNKNOWN_KIND = Text("类型只能是乡镇或村（社区）。", "The kind must be township or village.")
HAS_VILLAGES = Text("该乡镇下还有村（社区），不能改为村。", "This township still has villages; it cannot become a village.")
WRONG_CURRENT_PASSWORD = Text("当前密码不正确。", "The current password is wrong.")
SAME_PASSWORD = Text("新密码不能与当前密码相同。", "The new password must differ from the current one.")
PASSWORDS_DIFFER = Text("两次输入的新密码不一致。", "The two entries of the new password differ.")
UNKNOWN_LOCALE = Text("请选择中文或英文。", "Choose Chinese or English.")
SYSTEM_ACCOUNT = Text("系统账户不能修改。", "The system account cannot be changed.")

MIN_PASSWORD_LENGTH = 10


def require_admin(actor: User | None) -> None:
    if actor is not None and not actor.has_role("admin"):
        raise PermissionDenied(ADMIN_ONLY)


def _check_username(username: str, user_id: int | None = None) -> dict[str, Text]:
    if not re.fullmatch(r"[A-Za-z0-9._-]{2,64}", username):
        return {"username": BAD_USERNAME}
    clash = db.session.scalar(sa.select(User.id).where(sa.func.lower(User.username) == username.lower()))
    return {"username": USERNAME_TAKEN} if clash and clash != user_id else {}


def save_user(*, username: str, display_name: str, roles: list[str], jurisdiction_ids: list[int],
              email: str | None = None, locale: str = "zh", password: str | None = None,
              active: bool = True, is_demo: bool | None = None, user: User | None = None,
              actor: User | None = None, now: datetime | None = None) -> User:
    """Create a user, or update ``user``. ``actor`` None means the command line (trusted operator).

    ``is_demo`` None keeps an existing account's demo flag (new accounts are real ones).
    """
    require_admin(actor)
    if user is not None and user.has_role(SYSTEM):
        raise PermissionDenied(SYSTEM_ACCOUNT)
    username = username.strip()
    errors = _check_username(username, user.id if user else None)
    if not display_name.strip():
        errors["display_name"] = NAME_REQUIRED
    if not roles:
        errors["roles"] = NO_ROLE
    elif set(roles) - set(ROLES):
        errors["roles"] = UNKNOWN_ROLE
    if (user is None or password) and len(password or "") < MIN_PASSWORD_LENGTH:
        errors["password"] = SHORT_PASSWORD
    if errors:
        raise ValidationFailed(INVALID_DATA, errors)
    places = list(db.session.scalars(sa.select(Jurisdiction).where(Jurisdiction.id.in_(jurisdiction_ids))))
    if user is None:
        user = User(created_at=now or utcnow())
    user.username, user.display_name = username, display_name.strip()
    user.email = (email or "").strip() or None
    user.locale = locale if locale in ("zh", "en") else "zh"
    user.active = active
    if is_demo is not None or user.id is None:
        user.is_demo = bool(is_demo)
    user.set_roles(roles)
    user.jurisdictions = places
    if password:
        user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(username: str, password: str) -> User | None:
    """The active user with these credentials, or None (same answer for every kind of failure).

    An unknown username still costs one password check, so response times do not reveal which
    usernames exist.
    """
    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.username) == username.strip().lower()))
    if user is None:
        check_password_hash(_decoy_hash(current_app.config["CASEFLOW_PASSWORD_HASH"]), password)
        return None
    if not user.check_password(password) or not user.active or user.has_role(SYSTEM):
        return None
    return user


# Not a valid username for people (see _check_username), so it can never be taken or signed in with.
SYSTEM_USERNAME = "@system"


def system_user(now: datetime | None = None) -> User:
    """The scheduler's account, created on first use: steps that follow from the clock alone are
    recorded under it. It has no password and cannot sign in."""
    query = sa.select(User).where(User.username == SYSTEM_USERNAME)
    user = db.session.scalar(query)
    if user is not None:
        return user
    try:
        with db.session.begin_nested():  # two schedulers starting at once: one insert wins
            user = User(username=SYSTEM_USERNAME, display_name="系统", password_hash="!", locale="zh",
                        active=True, created_at=now or utcnow())
            user.set_roles({SYSTEM})
            db.session.add(user)
    except sa.exc.IntegrityError:
        user = db.session.scalar(query)
    return user


def change_password(user: User, current: str, new: str, repeat: str) -> None:
    """Give ``user`` the password ``new``, when ``current`` is their password and ``repeat`` matches.

    Every problem is reported at once, each under its form field. "Same as the current password" is
    only said when ``current`` was right: checking ``new`` against the stored hash as well would turn the
    new-password field into a second way to test guesses of the password.
    """
    errors: dict[str, Text] = {}
    current_ok = user.check_password(current)
    if not current_ok:
        errors["current_password"] = WRONG_CURRENT_PASSWORD
    if len(new) < MIN_PASSWORD_LENGTH:
        errors["new_password"] = SHORT_PASSWORD
    elif current_ok and new == current:
        errors["new_password"] = SAME_PASSWORD
    if repeat != new:
        errors["repeat_password"] = PASSWORDS_DIFFER
    if errors:
        raise ValidationFailed(INVALID_DATA, errors)
    user.set_password(new)
    db.session.flush()


def set_locale(user: User, locale: str) -> None:
    """Keep ``locale`` (one of the UI's languages) as ``user``'s language, for every new session."""
    if locale not in current_app.config["CASEFLOW_LOCALES"]:
        raise ValidationFailed(INVALID_DATA, {"locale": UNKNOWN_LOCALE})
    user.locale = locale
    db.session.flush()


def set_daily_digest(user: User, wanted: bool) -> None:
    """Turn ``user``'s daily reminder email on or off (their own choice; see services/digests.py)."""
    user.daily_digest = bool(wanted)
    db.session.flush()


@lru_cache(maxsize=4)
def _decoy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_hex(16), method=method)


def issue_api_token(user: User, hours: int, now: datetime | None = None) -> str:
    """A new bearer token for ``user``; only its hash is kept, so it is shown once."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, token_hash=_token_hash(token), created_at=now,
                            expires_at=now + timedelta(hours=hours)))
    db.session.flush()
    return token


def user_for_token(token: str, now: datetime | None = None) -> User | None:
    """The active user a live API token belongs to. One query with the roles and jurisdictions every API
    request checks: token auth runs on each request, and loading them lazily took four round trips."""
    return db.session.execute(_USER_FOR_TOKEN, {"token_hash": _token_hash(token), "now": now or utcnow()}
                              ).unique().scalar_one_or_none()


# Built once: building it with its two eager loads, and working out its cache key, took about a quarter of
# token authentication's CPU time on every request (py-spy, bench/http_api.py).
_USER_FOR_TOKEN = (
    sa.select(User).join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == sa.bindparam("token_hash"),
           ApiToken.expires_at > sa.bindparam("now", type_=ApiToken.expires_at.type), User.active.is_(True))
    .options(joinedload(User.role_rows), joinedload(User.jurisdictions)))


def signed_in_user(user_id: int) -> User | None:
    """The user a web session belongs to, with the roles and jurisdictions every page checks, in one
    query (loaded lazily they were three round trips on every request)."""
    return db.session.get(User, user_id, options=_WITH_ROLES_AND_PLACES)


_WITH_ROLES_AND_PLACES = (joinedload(User.role_rows), joinedload(User.jurisdictions))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def save_jurisdiction(*, code: str, name: str, kind: str, parent_id: int | None, name_en: str | None = None,
                      jurisdiction: Jurisdiction | None = None, actor: User | None = None) -> Jurisdiction:
    """Create or update a township or village."""
    require_admin(actor)
    code, name = code.strip(), name.strip()
    errors: dict[str, Text] = {}
    clash = db.session.scalar(sa.select(Jurisdiction.id).where(Jurisdiction.code == code))
    if not code or (clash and (jurisdiction is None or clash != jurisdiction.id)):
        errors["code"] = CODE_TAKEN if code else NAME_REQUIRED
    if not name:
        errors["name"] = NAME_REQUIRED
    parent = db.session.get(Jurisdiction, parent_id) if parent_id else None
    if kind not in ("township", "village"):
        errors["kind"] = UNKNOWN_KIND
    elif kind == "village" and (parent is None or parent.kind != "township"):
        errors["parent_id"] = NEEDS_TOWNSHIP
    elif kind == "village" and jurisdiction is not None and jurisdiction.children:
        errors["kind"] = HAS_VILLAGES
    if errors:
        raise ValidationFailed(INVALID_DATA, errors)
    if jurisdiction is None:
        jurisdiction = Jurisdiction()
        db.session.add(jurisdiction)
    jurisdiction.code, jurisdiction.name, jurisdiction.kind = code, name, kind
    jurisdiction.name_en = (name_en or "").strip() or None
    jurisdiction.parent = parent if kind == "village" else None
    db.session.flush()
    return jurisdiction


def list_users() -> list[User]:
    """Every person's account, by username (the admin's user list; the system account is not a person's)."""
    return list(db.session.scalars(sa.select(User).where(User.username != SYSTEM_USERNAME).order_by(User.username)))


def list_townships() -> list[Jurisdiction]:
    """Every township by code; each one's villages are its ``children``."""
    return list(db.session.scalars(
        sa.select(Jurisdiction).where(Jurisdiction.kind == "township").order_by(Jurisdiction.code)
    ))


def users_by_username(usernames: set[str]) -> dict[str, User]:
    """The accounts with these usernames (audit events name users by username)."""
    if not usernames:
        return {}
    return {u.username: u for u in db.session.scalars(sa.select(User).where(User.username.in_(usernames)))}
