"""The method in miniature (issue 30): three synthetic domains a tiny model learns on CPU, a noisy
teacher, and the untrained student, all written by ``python -m merge.mini.build`` for the ``mini``
recipe (``merge/recipes/mini.yaml``). ``tasks`` holds the domains and their traces, ``student`` the
tokenizer and model builders, ``build`` the files. Nothing is imported here: the builder imports
transformers, and the recipe runs it as a module.
"""
