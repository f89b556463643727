"""The citation block every card ends with."""

CITATION = """@misc{sun2025tinyr132bpreview,
  title         = {TinyR1-32B-Preview: Boosting Accuracy with Branch-Merge Distillation},
  author        = {Lin Sun and others},
  year          = {2025},
  eprint        = {2503.04872},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CL}
}"""
