"""The typed config of one curation run (a leaf: it imports nothing of the pipeline).

A recipe YAML sets it, command-line flags override it (the flags are generated from the
``flag`` metadata of the fields below, so a setting is declared exactly once), and
``parse_config`` reports every type and range problem at once. Checks against the world
outside the config (registries, files, the source) are ``curation.checks``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curation.settings import ConfigError, coerce_setting, did_you_mean, leaf_type, load_yaml, set_fields, setting
from curation.teacher_config import BatchConfig, CostConfig, TeacherConfig, validate_spend, validate_teacher


@dataclass
class SourceConfig:
    path: str | None = setting(None, "--source", "Local JSONL/JSON/Parquet file, folder or glob; a Hugging Face "
                               "dataset id; or 'demo' for the embedded demo set.")
    preset: str | None = setting(None, "--preset", "Named source with its field mapping (see `curate presets`).")
    subset: str | None = setting(None, "--subset", "Hub dataset subset (config name).")
    split: str = setting("train", "--split", "Hub dataset split.")
    fields: dict[str, str] = setting({}, "--field", "Field mapping OURS=THEIRS, e.g. --field problem=question "
                                     "(repeatable). Ours: id, problem, answer, responses, finish_reasons, source.",
                                     multiple=True, metavar="OURS=THEIRS")
    limit: int | None = setting(None, "--limit", "Read only the first N source rows.")
    where: dict[str, str] = setting({}, "--where", "Keep only source rows whose FIELD equals VALUE (repeatable; "
                                    "VALUE may list alternatives a|b), e.g. --where domain=code.", multiple=True,
                                    metavar="FIELD=VALUE")


@dataclass
class FilterConfig:
    allow_no_think: bool = setting(False, "--allow-no-think", "Accept plain chain-of-thought responses that have "
                                   "no <think> block (the whole response is the final part).", is_flag=True)
    require_stop: bool = setting(True, "--require-stop/--no-require-stop", "Drop responses whose finish reason "
                                 "is known and is not 'stop'.")
    normalize_reasoning: bool = setting(True, "--normalize-reasoning/--keep-reasoning-tags", "Publish every "
                                        "response in R1's <think>...</think> form (thought/solution tags rewritten, a "
                                        "missing <think> put back); --keep-reasoning-tags keeps the source's text.")
    max_length: int | None = setting(None, "--max-length", "Longest response kept, in tokens of --tokenizer when "
                                     "given, else characters. Default 32768 tokens / 131072 characters.")
    tokenizer: str | None = setting(None, "--tokenizer", "Tokenizer (path or Hub id) for lengths and num_tokens.")
    repetition_ngram: int = setting(20, None)
    repetition_max: int = setting(10, None)


@dataclass
class DedupConfig:
    exact: bool = setting(True, "--exact-dedup/--no-exact-dedup", "Drop problems whose normalised text repeats.")
    near: bool = setting(True, "--dedup/--no-dedup", "Drop near-duplicate problems (MinHash LSH over word "
                         "3-grams of math-aware tokens).")
    threshold: float = setting(0.8, "--dedup-threshold", "Jaccard similarity at which problems count as near "
                               "duplicates.")
    num_perm: int = setting(128, None)
    shingle: int = setting(3, None)
    against: str | None = setting(None, "--dedup-against", "A published set (folder or Hub dataset id) whose "
                                  "problems new problems must not near-duplicate.")


@dataclass
class DecontamConfig:
    enabled: bool = setting(True, "--decontaminate/--no-decontaminate", "Drop problems that overlap a benchmark.")
    ngram: int = setting(8, "--ngram", "Word n-gram length for benchmark overlap.")
    min_overlap: float = setting(0.5, "--min-overlap", "Share of a benchmark item's distinct n-grams a problem must "
                                 "contain to count as contaminated.")
    fuzzy: bool = setting(False, "--fuzzy-decontam/--no-fuzzy-decontam", "Also drop problems whose MinHash "
                          "similarity to a benchmark item reaches fuzzy_threshold (catches some rewordings).")
    fuzzy_threshold: float = setting(0.5, None)
    benchmarks: dict[str, str] = setting({}, "--benchmark", "Benchmark NAME=PATH_OR_ID[#FIELD] (repeatable; adds "
                                         "to the recipe's list).", multiple=True, metavar="NAME=PATH")
    skip: list[str] = setting([], "--no-benchmark", "Leave out the benchmark NAME of the recipe's list (repeatable, "
                              "or NAME,NAME); the card and report name it as skipped.", multiple=True,
                              metavar="NAME")
    on_missing: str = setting("error", None)  # "error": a benchmark that cannot be loaded stops the run
    judge: bool = setting(False, "--decontam-judge/--no-decontam-judge", "Also catch rephrased or translated "
                          "benchmark items: retrieve each problem's closest benchmark items and ask the LLM judge "
                          "(--judge ...) whether each is the same problem; its replies are stored and reused.")
    judge_k: int = setting(5, "--decontam-k", "--decontam-judge: benchmark items retrieved per problem and judged.")
    retrieval: str = setting("bm25", "--decontam-retrieval", "--decontam-judge: how candidates are found: bm25 "
                             "(words, numbers and character 4-grams; no model), embeddings (an OpenAI-compatible "
                             "/v1/embeddings endpoint) or both (the union, up to twice --decontam-k).")
    embed_model: str | None = setting(None, "--decontam-embed-model", "The embedding model (served name) for "
                                      "--decontam-retrieval embeddings or both.")
    embed_base_urls: list[str] = setting([], "--decontam-embed-base-url", "The embedding model's OpenAI-compatible "
                                         "endpoint, e.g. http://node1:8001/v1 (repeatable).", multiple=True,
                                         fingerprint=False, metavar="URL")


# DecontamConfig's settings of --decontam-judge (curation.stages.decontam_judge)
REPHRASE_ONLY = ("judge", "judge_k", "retrieval", "embed_model")


@dataclass
class VerifyConfig:
    timeout_s: float = setting(5.0, "--verify-timeout", "Hard wall-clock limit per verification, seconds.")
    keep_unverified: bool = setting(False, "--keep-unverified/--drop-unverified", "Keep samples the verifier "
                                    "could not decide (passed=None), e.g. an unparseable gold or code not executed. "
                                    "Sandbox and verifier failures are never kept.")
    sandbox: bool = setting(False, "--sandbox/--no-sandbox", "Code: run every candidate against its tests in the "
                            "bubblewrap sandbox (without it only static checks run and verdicts are passed=None).")
    code_wall_s: float = setting(10.0, None)
    code_memory_mb: int = setting(1024, None)
    # call-protocol tests: code_wall_s for each test call (LiveCodeBench's rule), not for the session
    code_limit_per_test: bool = setting(False, None)


@dataclass
class SelectConfig:
    keep: str = setting("all", "--keep", "Per problem, among verified samples: all, first, shortest, or N (the "
                        "first N).")


@dataclass
class OutputConfig:
    out_dir: str | None = setting(None, "--out", "Output folder (default ./out/<domain>).")
    shard_rows: int = setting(10000, "--shard-rows", "Rows per Parquet shard.")
    part_size: int = setting(1000, "--part-size", "Source rows per resumable part.")
    workers: int | None = setting(None, "--workers", "Processes for CPU-heavy stages (default: all cores).",
                                  fingerprint=False)
    responses_dir: str | None = setting(None, "--responses", "Folder of the teacher answer store, kept across "
                                        "recipes and runs (default: .responses beside the output folder).",
                                        fingerprint=False)
    license: str = setting("apache-2.0", "--license", "The card's licence: a Hub licence id (apache-2.0, mit, "
                           "cc-by-4.0, cc-by-nc-4.0, odc-by, llama3.1, other, ...). Use the source's and the teacher's "
                           "terms.", fingerprint=False)


@dataclass
class ExecutorConfig:
    kind: str = setting("local", "--executor", "Where CPU-heavy work runs: local (a process pool on this machine) or "
                        "ray (Ray tasks and actors over a cluster's nodes; extra [ray]). The output is the same.",
                        fingerprint=False)
    address: str | None = setting(None, "--ray-address", "ray: the cluster to join (default: 'auto' when one is "
                                  "running here, else a local Ray started for the run).", fingerprint=False)
    cpus_per_task: float = setting(1.0, "--ray-cpus-per-task", "ray: CPUs each worker actor holds (its verifier "
                                   "processes and sandboxes).", fingerprint=False)
    workers: int | None = setting(None, "--ray-workers", "ray: worker actors (default: the cluster's CPUs / "
                                  "cpus_per_task).", fingerprint=False)


@dataclass
class CurateConfig:
    domain: str = "math"
    source: SourceConfig = field(default_factory=SourceConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    decontaminate: DecontamConfig = field(default_factory=DecontamConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)  # requests out and answers back as batch files
    cost: CostConfig = field(default_factory=CostConfig)  # prices and the budget
    # An LLM judge for verdicts the parsers cannot decide (curation.stages.llm_judge); "none": no judge.
    judge: TeacherConfig = field(default_factory=lambda: TeacherConfig(backend="none", model="", temperature=0.0,
                                                                       max_tokens=2048))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def fingerprint_dict(self) -> dict:
        """The settings that decide the output (execution settings such as workers left out)."""
        d = self.to_dict()
        for section, f in iter_fields(CurateConfig):
            if f.metadata.get("fingerprint") is False:
                d[section].pop(f.name, None)
        d["output"].pop("out_dir", None)
        return {k: v for k, v in d.items() if v != {}}  # a section of execution settings only: left out

    def phase_fingerprints(self) -> dict[str, dict]:
        """The settings each resumable phase's output depends on (``curation.workdir.PHASES``); the
        publish phase (shard size, licence) is redone on every run."""
        d = self.fingerprint_dict()
        problems = {k: d.get(k) for k in ("dedup", "decontaminate")}
        if self.decontaminate.judge:  # the judge's verdicts decide rows of this phase
            problems["judge"] = d.get("judge")
        else:  # settings that decide nothing while it is off (work folders from before them stay valid)
            problems["decontaminate"] = {k: v for k, v in d["decontaminate"].items() if k not in REPHRASE_ONLY}
        return {"load": {"domain": d["domain"], "source": d.get("source"),
                         "part_size": d["output"]["part_size"]},
                "problems": problems,
                "samples": {k: d.get(k) for k in ("teacher", "filters", "verify", "select", "judge")}}


def iter_fields(cls) -> list[tuple[str, dataclasses.Field]]:
    """``(section, field)`` for every leaf setting of ``CurateConfig``."""
    out = []
    for section in dataclasses.fields(cls):
        sub = section.default_factory() if section.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(sub):
            out.extend((section.name, f) for f in dataclasses.fields(sub))
    return out


def parse_config(recipe: dict, overrides: dict[str, Any] | None = None, *,
                 origin: str = "recipe") -> tuple[CurateConfig, list[str]]:
    """Recipe mapping + ``{"section.name": value}`` overrides -> ``(config, problems)``: every type
    and range problem, one line each (registries, files and the source: ``curation.checks``)."""
    problems: list[str] = []
    if not isinstance(recipe, dict):
        raise ConfigError([f"{origin}: must be a mapping of sections, got {type(recipe).__name__}"])
    cfg = CurateConfig()
    section_names = {f.name for f in dataclasses.fields(CurateConfig)}
    for key, value in recipe.items():
        if key == "demo":  # applied by ``with_demo`` when a command runs the embedded demo set
            if not isinstance(value, dict):
                problems.append(f"{origin}: section 'demo' must be a mapping of sections")
            continue
        if key not in section_names:
            problems.append(f"{origin}: unknown section '{key}'" + did_you_mean(key, dataclasses.fields(CurateConfig)))
            continue
        if key == "domain":
            cfg.domain = coerce_setting(value, str, False, f"{origin}: domain", problems)
            continue
        if not isinstance(value, dict):
            problems.append(f"{origin}: section '{key}' must be a mapping")
            continue
        set_fields(getattr(cfg, key), value, problems, label=lambda n, k=key: f"{origin}: {k}.{n}",
                   unknown=lambda n, k=key: f"{origin}: unknown key '{k}.{n}'")
    for dotted, value in (overrides or {}).items():
        section, _, name = dotted.partition(".")
        set_fields(getattr(cfg, section), {name: value}, problems, label=lambda n, d=dotted: f"option {d}",
                   unknown=lambda n, d=dotted: f"option {d}: unknown setting", merge_mappings=True)
    if isinstance(cfg.decontaminate.skip, list):  # --no-benchmark A,B and --no-benchmark A --no-benchmark B alike
        cfg.decontaminate.skip = sorted({n.strip() for item in cfg.decontaminate.skip for n in item.split(",")
                                         if n.strip()})
    problems.extend(validate(cfg))
    return cfg, problems


KEEP_WORDS = ("all", "first", "shortest")

# The licence ids the Hub accepts in a card's `license:` field (its metadata check refuses any other
# value at push time, so we refuse it when the command line is read); `other` is for the rest.
HUB_LICENSES = frozenset("""
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0 bigcode-openrail-m
afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5
cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0
cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0
cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl
lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl
openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr deepfloyd-if-license llama2 llama3 llama3.1
llama3.2 llama3.3 llama4 gemma unknown other
""".split())


def validate(cfg: CurateConfig) -> list[str]:
    """Every range and consistency problem with a config, one line each (types are checked while
    building; names checked against registries in ``curation.checks``)."""
    p: list[str] = []
    if cfg.source.path is None and cfg.source.preset is None:
        p.append("source: give --source or --preset")
    if isinstance(cfg.source.limit, int) and cfg.source.limit < 1:
        p.append("source.limit: must be at least 1")
    keep = cfg.select.keep
    if isinstance(keep, str) and keep not in KEEP_WORDS and not (keep.isdigit() and int(keep) > 0):
        p.append(f"select.keep: must be all, first, shortest or a positive integer, got {keep!r}")
    for name in ("shard_rows", "part_size"):
        v = getattr(cfg.output, name)
        if isinstance(v, int) and v < 1:
            p.append(f"output.{name}: must be at least 1, got {v}")
    lic = cfg.output.license
    if isinstance(lic, str) and lic not in HUB_LICENSES:
        near = sorted(x for x in HUB_LICENSES if x.startswith(lic.lower().split("-")[0]))[:6]
        p.append(f"output.license: {lic!r} is not a Hub licence id (" + (f"did you mean {', '.join(near)}? " if near
                 else "e.g. apache-2.0, mit, cc-by-4.0; ") + "use 'other' for any other licence)")
    if isinstance(cfg.output.workers, int) and cfg.output.workers < 1:
        p.append(f"output.workers: must be at least 1, got {cfg.output.workers}")
    if isinstance(cfg.verify.timeout_s, float) and cfg.verify.timeout_s <= 0:
        p.append("verify.timeout_s: must be positive")
    if isinstance(cfg.filters.max_length, int) and cfg.filters.max_length < 1:
        p.append("filters.max_length: must be at least 1")
    d, dc = cfg.dedup, cfg.decontaminate
    if isinstance(d.threshold, float) and not 0 < d.threshold < 1:
        p.append(f"dedup.threshold: must be between 0 and 1, got {d.threshold}")
    if isinstance(d.num_perm, int) and not 16 <= d.num_perm <= 1024:
        p.append("dedup.num_perm: must be between 16 and 1024")
    if isinstance(d.shingle, int) and d.shingle < 1:
        p.append("dedup.shingle: must be at least 1")
    if isinstance(dc.ngram, int) and dc.ngram < 1:
        p.append("decontaminate.ngram: must be at least 1")
    if isinstance(dc.min_overlap, float) and not 0 < dc.min_overlap <= 1:
        p.append("decontaminate.min_overlap: must be in (0, 1]")
    if isinstance(dc.fuzzy_threshold, float) and not 0 < dc.fuzzy_threshold < 1:
        p.append("decontaminate.fuzzy_threshold: must be between 0 and 1")
    if cfg.executor.kind not in ("local", "ray"):
        p.append(f"executor.kind: must be local or ray, got {cfg.executor.kind!r}")
    if isinstance(cfg.executor.cpus_per_task, float) and cfg.executor.cpus_per_task <= 0:
        p.append("executor.cpus_per_task: must be positive")
    if isinstance(cfg.executor.workers, int) and cfg.executor.workers < 1:
        p.append("executor.workers: must be at least 1")
    if isinstance(dc.skip, list):
        for name in dc.skip:
            if dc.enabled and name not in dc.benchmarks:
                p.append(f"decontaminate.skip: --no-benchmark {name}: no such benchmark in this run (its benchmarks: "
                         f"{', '.join(sorted(dc.benchmarks)) or 'none'})")
    if isinstance(dc.judge_k, int) and dc.judge_k < 1:
        p.append(f"decontaminate.judge_k: must be at least 1, got {dc.judge_k}")
    if dc.judge and dc.enabled:
        if cfg.judge.backend == "none":
            p.append("decontaminate.judge: --decontam-judge needs an LLM judge (--judge openai --judge-model NAME "
                     "--judge-base-url URL)")
        if dc.retrieval in ("embeddings", "both") and not (dc.embed_model and dc.embed_base_urls):
            p.append(f"decontaminate.retrieval: {dc.retrieval} needs --decontam-embed-model and "
                     "--decontam-embed-base-url")
    if dc.on_missing not in ("error", "skip"):
        p.append(f"decontaminate.on_missing: must be error or skip, got {dc.on_missing!r}")
    p.extend(validate_teacher(cfg.teacher, cfg.batch))
    p.extend(validate_spend(cfg.teacher, cfg.batch, cfg.cost))
    if cfg.judge.backend != "none":
        if not cfg.judge.model:
            p.append("judge.model: --judge needs --judge-model")
        if cfg.judge.backend == "openai" and not cfg.judge.base_urls:
            p.append("judge.base_urls: --judge openai needs at least one --judge-base-url")
    return p


def read_recipe_yaml(path: str | Path) -> dict:
    """A recipe file as its mapping (``parse_config`` / ``curation.prepare`` make it a config)."""
    return load_yaml(path, "recipe")


def with_demo(recipe: dict) -> dict:
    """The recipe with its ``demo`` section applied: each key of it replaces the recipe's key of
    the same section (so the demo's benchmark list replaces the recipe's, not adds to it)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in recipe.items() if k != "demo"}
    for section, values in (recipe.get("demo") or {}).items():
        out.setdefault(section, {}).update(values)
    return out


RECIPES_DIR = Path(__file__).parent / "recipes"

__all__ = ["ConfigError", "CurateConfig", "SourceConfig", "TeacherConfig", "BatchConfig", "CostConfig",
           "FilterConfig", "DedupConfig", "DecontamConfig", "VerifyConfig", "SelectConfig", "OutputConfig",
           "ExecutorConfig", "parse_config", "validate", "iter_fields", "leaf_type", "read_recipe_yaml", "with_demo",
           "RECIPES_DIR"]
