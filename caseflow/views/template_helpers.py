"""Jinja filters and globals shared by every page."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import Flask
from flask_babel import get_locale

from caseflow.calendar import to_local
from caseflow.extensions import db
from caseflow.models import User
from caseflow.workflows import all_workflows
from caseflow.workflows.definition import Text


def current_locale() -> str:
    return "en" if str(get_locale() or "zh").startswith("en") else "zh"


def tr(text: Text | None) -> str:
    """A bilingual ``Text`` in the page's language."""
    return "" if text is None else text.get(current_locale())


def local_datetime(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC instant as office-local (Asia/Shanghai) time."""
    return "" if moment is None else to_local(moment).strftime(fmt)


def register(app: Flask) -> None:
    app.add_template_filter(tr)
    app.add_template_filter(local_datetime)
    app.add_template_global(current_locale)
    app.add_template_global(all_workflows)

    @app.context_processor
    def demo_banner() -> dict[str, bool]:
        """Every page says so when the instance holds demo data."""
        return {"demo_instance": bool(db.session.scalar(sa.select(User.id).where(User.is_demo).limit(1)))}
