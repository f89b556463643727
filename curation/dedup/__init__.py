"""Duplicate and benchmark-overlap detection over problem texts (the algorithms; the stages that
apply them are ``curation.stages.problem_stages``).

- ``text_normalize``: math-aware word tokens and their stable hashes;
- ``exact``: duplicates of normalised text, the lowest ``problem_id`` kept;
- ``minhash``: batched MinHash signatures (datasketch's, bit for bit), LSH banding, clusters and
  the near-dup index a published set carries;
- ``decontaminate``: coverage of a benchmark item's word n-grams (and an optional MinHash match);
- ``retrieval``: the benchmark items closest to a problem (BM25 over words and character 4-grams,
  or cosine over embeddings), the candidates ``--decontam-judge`` puts to the LLM judge.
"""

from curation.dedup.decontaminate import BenchmarkIndex, contamination, find_contaminated
from curation.dedup.exact import exact_duplicates
from curation.dedup.minhash import NearDupIndex, cluster, find_near_duplicates, lsh_params, signatures
from curation.dedup.retrieval import LexicalIndex, dense_top_k

__all__ = ["BenchmarkIndex", "contamination", "find_contaminated", "exact_duplicates", "NearDupIndex", "cluster",
           "find_near_duplicates", "lsh_params", "signatures", "LexicalIndex", "dense_top_k"]
