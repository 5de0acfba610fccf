"""Siting of community stations: coverage audit, minimum cover (LSCP), maximal cover (MCLP)."""

from quarterhour.siting.audit import CoverageAudit
from quarterhour.siting.capacity import Capacity
from quarterhour.siting.model import CoverageModel
from quarterhour.siting.plan import coverage_audit, run_plan
from quarterhour.siting.result import SitingResult

__all__ = [
    "Capacity",
    "CoverageAudit",
    "CoverageModel",
    "SitingResult",
    "coverage_audit",
    "run_plan",
]
