"""Use cases. Plain functions that check permission, change data, write the audit trail and flush —
never commit (the view, command or job that calls them does, through ``extensions.transactional``)."""
from caseflow.services.cases import apply_transition, assign_case, available_steps, open_case, workflow_of
from caseflow.services import procedure_certificates  # noqa: F401  (registers the workflow's hooks)
from caseflow.services import subsidies  # noqa: F401  (registers the subsidy workflow's hooks)
from caseflow.services import fees  # noqa: F401  (registers the fee-case workflow's hooks)

__all__ = ["apply_transition", "assign_case", "available_steps", "open_case", "workflow_of"]
