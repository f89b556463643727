"""Merging Branch-Merge experts: plans of mergekit steps (Arcee Fusion chain by default).

Public surface: ``load_plan`` / ``parse_plan`` / ``Plan`` / ``PlanStep``, the registries ``PLANS``
and ``METHODS``, ``check_inputs`` and ``run_plan``; Branch-Merge recipes (``load_recipe``, ``RECIPES``)
run by ``merge.recipe_runner`` (the ``branch-merge`` command; imported where used).
"""

from merge.checks import check_inputs
from merge.execute import run_plan
from merge.plan import METHODS, PLANS, Plan, PlanError, PlanStep, load_plan, mergekit_config, parse_plan
from merge.recipe import RECIPES, Recipe, load_recipe

__all__ = ["check_inputs", "METHODS", "PLANS", "Plan", "PlanError", "PlanStep", "load_plan", "mergekit_config",
           "parse_plan", "run_plan", "RECIPES", "Recipe", "load_recipe"]
