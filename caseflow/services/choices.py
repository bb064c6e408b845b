"""Lists that form fields choose from but the office keeps as configuration (``Field.choices_from``)."""
from __future__ import annotations

import sqlalchemy as sa

from caseflow.extensions import db
from caseflow.models import FeeType, SubsidyScheme
from caseflow.workflows.definition import Choices, Text


def configured_choices(*, include_retired: bool = False) -> dict[str, Choices]:
    """Entries by list name. New input may only pick current entries; showing a stored value needs the
    retired ones too (``include_retired``)."""
    schemes = sa.select(SubsidyScheme).order_by(SubsidyScheme.id)
    fee_types = sa.select(FeeType).order_by(FeeType.id)
    if not include_retired:
        schemes = schemes.where(SubsidyScheme.active.is_(True))
        # An abolished type (社会抚养费) is never offered, whatever its active flag says.
        fee_types = fee_types.where(FeeType.active.is_(True), FeeType.abolished.is_(False))
    return {
        "subsidy_schemes": tuple((s.code, Text(s.name, s.name_en or s.name)) for s in db.session.scalars(schemes)),
        "fee_types": tuple((t.code, Text(t.name, t.name_en or t.name)) for t in db.session.scalars(fee_types)),
    }
