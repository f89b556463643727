"""The citation block every card ends with (one section, one entry: the paper the recipe is from)."""

CITATION = """@misc{sun2025tinyr132bpreview,
  title         = {TinyR1-32B-Preview: Boosting Accuracy with Branch-Merge Distillation},
  author        = {Sun, Lin and Zhao, Guangxiang and Jian, Xiaoqi and Wu, Yuhan and Lin, Weihong and Zhu, Yongfu
                   and Zhang, Change and Zhang, Linglin and Liu, Jinzhu and Wu, Jiaqi and Zhang, Xiangzheng},
  year          = {2025},
  eprint        = {2503.04872},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CL}
}"""
