"""The teacher's settings (a leaf, like ``curation.config``, which re-exports them): how it is asked
(``TeacherConfig``), how answers travel as batch files (``BatchConfig``) and what they cost
(``CostConfig``). Only ``TeacherConfig``'s sampling settings decide an answer; the rest are
execution settings (``fingerprint=False``): they change how and when answers are paid for, never
which answer a request gets.
"""

from __future__ import annotations

from dataclasses import dataclass

from curation.settings import setting


@dataclass
class TeacherConfig:
    backend: str = setting("replay", "--teacher", "Generation backend: replay (traces in the source), openai (any "
                           "OpenAI-compatible server), vllm (local GPUs), hf (transformers generate).")
    model: str = setting("deepseek-ai/DeepSeek-R1", "--teacher-model", "Teacher model: the served model name "
                         "(openai), a local path or Hub id (vllm, hf); recorded per sample.")
    base_urls: list[str] = setting([], "--base-url", "OpenAI-compatible endpoint, e.g. http://node1:8000/v1 "
                                   "(repeatable: requests are shared round-robin).", multiple=True, fingerprint=False,
                                   metavar="URL")
    api_key_env: str = setting("OPENAI_API_KEY", None, fingerprint=False)
    endpoint: str = setting("chat", "--endpoint", "openai: chat (/chat/completions) or completions (/completions).")
    prompt: str | None = setting(None, "--prompt", "Prompt template with {problem} (default: the domain's "
                                 "instruction, e.g. math asks for the answer in \\boxed{}).")
    temperature: float = setting(0.6, "--temperature", "Sampling temperature.")
    top_p: float = setting(0.95, "--top-p", "Nucleus sampling top_p.")
    max_tokens: int = setting(32768, "--max-tokens", "Most new tokens per response.", aliases=("max_new_tokens",))
    seed: int | None = setting(None, "--seed", "Base seed; each sample's seed derives from it, the problem id and the "
                               "sample index, so a re-run asks for the same samples.")
    samples: int = setting(1, "--samples", "Live teachers: samples per problem per round.")
    rounds: int = setting(1, "--rounds", "Rejection-sampling rounds: each round re-samples only the problems with "
                          "fewer than --want verified samples.")
    want: int = setting(1, "--want", "Verified samples wanted per problem (rounds stop for a problem once reached).")
    budget: int | None = setting(None, "--budget", "Most samples requested per problem over all rounds "
                                 "(default samples x rounds).")
    concurrency: int = setting(64, "--concurrency", "openai: requests in flight.", fingerprint=False)
    request_timeout_s: float = setting(1800.0, "--request-timeout", "openai: seconds per request attempt.",
                                       fingerprint=False)
    max_retries: int = setting(8, "--max-retries", "openai: retries on 429/5xx/connection errors/timeouts "
                               "(exponential backoff).", fingerprint=False)
    backoff_s: float = setting(1.0, None, fingerprint=False)
    requests_per_minute: int | None = setting(None, "--requests-per-minute", "openai: most requests sent per minute, "
                                              "over all --base-urls together, spaced evenly (60/N s apart).",
                                              fingerprint=False, metavar="N")
    tokens_per_minute: int | None = setting(None, "--tokens-per-minute", "openai: most tokens per minute over all "
                                            "--base-urls, each request counted as its prompt plus --max-tokens "
                                            "when it is sent (as OpenAI counts it).", fingerprint=False,
                                            metavar="N")
    tensor_parallel_size: int = setting(1, "--tensor-parallel-size", "vllm: GPUs per model replica.",
                                        fingerprint=False)

    def answer_identity(self) -> dict:
        """What, besides the prompt and the seed, decides an answer: the key of the response store
        (``curation.teachers.response_store``). How many samples or rounds are asked is not part of it."""
        return {"model": self.model, "endpoint": self.endpoint, "temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens}


@dataclass
class BatchConfig:
    export_requests: str | None = setting(None, "--export-requests", "Write every request the run still needs as an "
                                          "OpenAI batch input file (JSONL) instead of asking the teacher; nothing is "
                                          "published until they are answered (--import-responses).",
                                          fingerprint=False, metavar="FILE")
    import_responses: list[str] = setting([], "--import-responses", "A batch output file (OpenAI's Batch API, vLLM's "
                                          "run_batch) answering exported requests: read into the response store by "
                                          "custom_id before the run (repeatable; partial files are fine).",
                                          multiple=True, fingerprint=False, metavar="FILE")
    submit: bool = setting(False, "--batch", "openai: send the requests through the --base-url's Batch API (upload, "
                           "create, poll, download; a killed run finds its batch again), one batch per rejection "
                           "round, until nothing is missing.", is_flag=True, fingerprint=False)
    poll_s: float = setting(60.0, "--batch-poll-every", "--batch: seconds between status checks of a batch.",
                            fingerprint=False, metavar="SECONDS")
    window: str = setting("24h", None, fingerprint=False)  # the Batch API's completion_window


@dataclass
class CostConfig:
    price_input: float | None = setting(None, "--price-input", "USD per million prompt tokens: the run's cost in "
                                        "report.json (generation.cost_usd), on the card and on the progress line.",
                                        fingerprint=False, metavar="USD")
    price_output: float | None = setting(None, "--price-output", "USD per million completion tokens.",
                                         fingerprint=False, metavar="USD")
    batch_factor: float = setting(1.0, "--batch-price-factor", "Answers that came back in batch files cost this "
                                  "share of the prices (OpenAI's Batch API: 0.5).", fingerprint=False, metavar="F")
    budget_usd: float | None = setting(None, "--budget-usd", "Stop asking the teacher once this run has spent this "
                                       "much (the requests in flight finish); finished parts are published and "
                                       "re-running continues with a fresh budget.", fingerprint=False, metavar="USD")

    @property
    def priced(self) -> bool:
        return self.price_input is not None or self.price_output is not None


def validate_teacher(t: TeacherConfig, batch: BatchConfig | None = None) -> list[str]:
    """Range and consistency problems of a teacher setting (``batch``: the run's batch files, which let
    an openai teacher go without a base URL)."""
    p = []
    if not (isinstance(t.temperature, float) and 0 <= t.temperature <= 5):
        p.append("teacher.temperature: must be between 0 and 5")
    if isinstance(t.top_p, float) and not 0 < t.top_p <= 1:
        p.append("teacher.top_p: must be in (0, 1]")
    for name in ("samples", "rounds", "want", "max_tokens", "concurrency", "tensor_parallel_size"):
        v = getattr(t, name)
        if isinstance(v, int) and v < 1:
            p.append(f"teacher.{name}: must be at least 1, got {v}")
    if isinstance(t.budget, int) and t.budget < 1:
        p.append("teacher.budget: must be at least 1")
    if isinstance(t.max_retries, int) and t.max_retries < 0:
        p.append("teacher.max_retries: must be 0 or more")
    if t.endpoint not in ("chat", "completions"):
        p.append(f"teacher.endpoint: must be chat or completions, got {t.endpoint!r}")
    if isinstance(t.prompt, str) and "{problem}" not in t.prompt:
        p.append("teacher.prompt: must contain {problem}")
    for name in ("requests_per_minute", "tokens_per_minute"):
        v = getattr(t, name)
        if isinstance(v, int) and v < 1:
            p.append(f"teacher.{name}: must be at least 1, got {v}")
    files = batch is not None and (batch.export_requests or batch.import_responses)
    if t.backend == "openai" and not t.base_urls and not files:
        p.append("teacher.base_urls: --teacher openai needs at least one --base-url (or batch files: "
                 "--export-requests / --import-responses)")
    if t.backend == "replay" and (t.rounds != 1 or t.samples != 1 or t.budget is not None):
        p.append("teacher: --samples/--rounds/--budget need a live teacher (openai, vllm, hf); replay uses the "
                 "responses stored in the source")
    return p


def validate_spend(t: TeacherConfig, batch: BatchConfig, cost: CostConfig) -> list[str]:
    """Problems of the batch-file and cost settings, one line each."""
    p = []
    live = t.backend not in ("replay", "none")
    if (batch.export_requests or batch.import_responses or batch.submit) and not live:
        p.append("batch: --export-requests, --import-responses and --batch need a live teacher (--teacher openai, "
                 "vllm or hf)")
    if batch.submit and t.backend != "openai":
        p.append("batch.submit: --batch sends requests to an OpenAI-compatible Batch API: it needs --teacher openai "
                 "and --base-url")
    if batch.submit and batch.export_requests:
        p.append("batch: --batch and --export-requests exclude each other (--batch uploads what --export-requests "
                 "would write)")
    if isinstance(batch.poll_s, float) and batch.poll_s <= 0:
        p.append("batch.poll_s: must be positive")
    for name in ("price_input", "price_output", "budget_usd"):
        v = getattr(cost, name)
        if isinstance(v, float) and v < 0:
            p.append(f"cost.{name}: must be 0 or more, got {v:g}")
    if isinstance(cost.batch_factor, float) and not 0 < cost.batch_factor <= 1:
        p.append("cost.batch_factor: must be in (0, 1]")
    if cost.budget_usd is not None and not cost.priced:
        p.append("cost.budget_usd: --budget-usd needs the prices (--price-input, --price-output)")
    return p
