"""Siting of community stations: coverage audit, minimum cover (LSCP), maximal cover (MCLP)."""

from quarterhour.siting.audit import CoverageAudit
from quarterhour.siting.model import CoverageModel
from quarterhour.siting.plan import coverage_audit, run_plan
from quarterhour.siting.result import SitingResult

__all__ = ["CoverageAudit", "CoverageModel", "SitingResult", "coverage_audit", "run_plan"]
