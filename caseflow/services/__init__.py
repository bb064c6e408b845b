"""Use cases. Plain functions that check permission, change data, write the audit trail and flush —
never commit (the view, command or job that calls them does, through ``extensions.transactional``)."""
from caseflow.services.cases import apply_transition, assign_case, available_steps, open_case, workflow_of
# Workflows that keep more than their state register their WorkflowHooks when their module is imported.
from caseflow.services import fees, procedure_certificates, subsidies  # noqa: F401

__all__ = ["apply_transition", "assign_case", "available_steps", "open_case", "workflow_of"]
