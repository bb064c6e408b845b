"""Use cases. Plain functions that check permission, change data, write the audit trail and flush —
never commit (the view, command or job that calls them does, through ``extensions.transactional``)."""
from caseflow.services.cases import apply_transition, assign_case, available_steps, open_case, workflow_of

__all__ = ["apply_transition", "assign_case", "available_steps", "open_case", "workflow_of"]
