"""Merging Branch-Merge experts: plans of mergekit steps (Arcee Fusion chain by default).

Public surface: ``load_plan`` / ``parse_plan`` / ``Plan`` / ``Step``, the registries ``PLANS``
and ``METHODS``, ``check_inputs`` and ``run_plan``.
"""

from merge.checks import check_inputs
from merge.plan import METHODS, PLANS, Plan, PlanError, Step, load_plan, mergekit_config, parse_plan
from merge.run import run_plan

__all__ = ["check_inputs", "METHODS", "PLANS", "Plan", "PlanError", "Step", "load_plan", "mergekit_config",
           "parse_plan", "run_plan"]
