"""Siting of community stations: coverage audit, minimum cover (LSCP), maximal cover (MCLP)."""

from siting.audit import CoverageAudit, coverage_audit
from siting.model import CoverageModel
from siting.plan import run_plan
from siting.result import SitingResult

__all__ = ["CoverageAudit", "CoverageModel", "SitingResult", "coverage_audit", "run_plan"]
