"""Per-rank memory of a training step, predicted from the model's shapes: ``train --plan-memory``.

A plan is a list of terms in bytes, each tied to what ``training.loop`` and DeepSpeed allocate, and
each held at one of these times:
- ``run``: the whole run (runtime, weights, gradients, optimizer states, DeepSpeed's buckets);
- ``backward``: the whole forward and backward pass (checkpointed layer inputs, the gradient of the
  largest tensor before it reaches a bucket);
- ``loss``: the loss's backward, one tile at a time (or the whole logits with ``--loss full``);
- ``layer``: one layer's recompute and backward (its activations and attention), after the loss's;
- ``step``: the optimizer step (the flat fp32 gradient, and on CPU torch AdamW's temporaries).
The loss and the layers take their turns in the backward, and the step comes after it, so the peak is
``run + max(backward + max(loss, layer), step)``. Without gradient checkpointing every layer's
activations are held through the whole backward.

The terms are live bytes. Checked against measured CPU peaks of small configurations
(``bench/memory_plan.py``, BENCHMARKS.md). Left out: what allocators keep after a free (the CUDA
caching allocator's fragmentation: keep ~10% headroom on a GPU; glibc's heap on CPU, which the
benchmark turns off), copies made while loading and saving the model, communication buffers beyond
the runtime term, and ZeRO-3 parameters kept gathered for reuse beyond the largest module and the
prefetch bucket (DeepSpeed allows up to ``stage3_max_live_parameters``, 1e9 elements).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from curation import looks_like_hub_id

SHAPES_DIR = Path(__file__).parent / "shapes"
GIB = 2**30
# build_ds_config's settings (a test checks they agree) and DeepSpeed's default sub-group
REDUCE_BUCKET = 5e7  # reduce_bucket_size (elements)
PREFETCH_BUCKET = 5e7  # stage3_prefetch_bucket_size
PERSISTENCE_THRESHOLD = 1e5  # stage3_param_persistence_threshold: smaller tensors stay gathered
SUB_GROUP = 1e9  # ZeRO-3 sub_group_size: the optimizer steps the partition in groups this large
TILE_ENTRIES = 2**26  # training.loss.TILE_ENTRIES (a test checks they agree)
GPU_RUNTIME = 1.0 * GIB  # CUDA context, cuBLAS workspace, NCCL: an estimate, not measured here
# The whole process on CPU with a negligible model: python, torch, deepspeed, transformers, tokenizer
# and data. Measured by ``bench/memory_plan.py --calibrate`` (peak RSS of a 2-layer, hidden-64,
# 400-token-vocabulary run, less the plan's own terms for it) with torch 2.13 and deepspeed 0.19.8:
# 0.62 GiB with transformers 5.25, 0.72 GiB with 5.19 (and vllm's dependencies) installed.
CPU_RUNTIME = 0.72 * GIB


@dataclass(frozen=True)
class ModelShape:
    """What memory depends on in a decoder-only transformer (Qwen2 / Llama layout)."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool = False
    qkv_bias: bool = True
    source: str = ""

    @classmethod
    def from_config(cls, cfg: dict, source: str = "") -> ModelShape:
        """From a Hugging Face ``config.json`` mapping (a ``text_config`` inside it wins)."""
        cfg = {**cfg, **(cfg.get("text_config") or {})}
        need = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")
        if missing := [k for k in need if not isinstance(cfg.get(k), int)]:
            raise ValueError(f"model: {source or 'config'} lacks {', '.join(missing)}")
        heads = cfg["num_attention_heads"]
        return cls(hidden=cfg["hidden_size"], layers=cfg["num_hidden_layers"], heads=heads,
                   kv_heads=cfg.get("num_key_value_heads") or heads,
                   head_dim=cfg.get("head_dim") or cfg["hidden_size"] // heads,
                   intermediate=cfg["intermediate_size"], vocab=cfg["vocab_size"],
                   tied=bool(cfg.get("tie_word_embeddings", False)),
                   qkv_bias=bool(cfg.get("attention_bias", cfg.get("model_type") == "qwen2")), source=source)

    @property
    def q_width(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_width(self) -> int:
        return self.kv_heads * self.head_dim

    def layer_tensors(self) -> list[int]:
        """Element counts of one decoder layer's parameters."""
        h, q, kv = self.hidden, self.q_width, self.kv_width
        bias = [q, kv, kv] if self.qkv_bias else []
        return [h * q, h * kv, h * kv, q * h, *[h * self.intermediate] * 3, h, h, *bias]

    @property
    def layer_params(self) -> int:
        return sum(self.layer_tensors())

    @property
    def params(self) -> int:
        embeddings = self.vocab * self.hidden * (1 if self.tied else 2)
        return embeddings + self.layers * self.layer_params + self.hidden

    @property
    def persistent_params(self) -> int:
        """Tensors under ZeRO-3's persistence threshold (norms, biases): kept whole on every rank."""
        small = sum(n for n in self.layer_tensors() if n < PERSISTENCE_THRESHOLD)
        return self.layers * small + (self.hidden if self.hidden < PERSISTENCE_THRESHOLD else 0)


def load_shape(model: str) -> ModelShape:
    """The shape of ``model``: a local folder (its config.json), a config.json file, or a Hub id
    (the Hugging Face cache, then the shapes shipped in ``training/shapes``, then a download)."""
    path = Path(model).expanduser()
    if path.is_dir() or path.suffix == ".json":
        file = path / "config.json" if path.is_dir() else path
        if not file.is_file():
            raise ValueError(f"model: {model} has no config.json")
        return ModelShape.from_config(_read_json(file), str(file))
    if not looks_like_hub_id(model):
        raise ValueError(f"model: {model} is neither a folder nor a Hub model id (ORG/NAME)")
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    cached = try_to_load_from_cache(model, "config.json")
    shipped = SHAPES_DIR / f"{model.replace('/', '--')}.json"
    if isinstance(cached, str):
        return ModelShape.from_config(_read_json(Path(cached)), f"{model} (Hugging Face cache)")
    if shipped.is_file():
        return ModelShape.from_config(_read_json(shipped), f"{model} (shipped shape training/shapes/{shipped.name})")
    try:
        return ModelShape.from_config(_read_json(Path(hf_hub_download(model, "config.json"))), model)
    except Exception as exc:  # offline, unknown repo, gated: one line
        known = ", ".join(sorted(p.stem.replace("--", "/") for p in SHAPES_DIR.glob("*.json")))
        raise ValueError(f"model: no config.json for {model} ({type(exc).__name__}); shipped shapes: {known}") from None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"model: cannot read {path}: {exc}") from None


def layer_saved(shape: ModelShape, pb: int) -> dict[str, int]:
    """Bytes per token that autograd saves in one decoder layer (counted from transformers' Qwen2
    layer; a test checks the sum with ``saved_tensors_hooks``). RMSNorm keeps its normalized input and
    output in the model's dtype and an fp32 copy of its input (in fp32 that copy is the input itself,
    new only for the second norm); attention keeps q, k, v after rotary, the kernel's output, its
    contiguous copy and the fp32 log-sum-exp; the MLP keeps gate, up, silu(gate) and their product;
    rotary's cos and sin are shared by all layers."""
    h, q, kv = shape.hidden, shape.q_width, shape.kv_width
    return {"norms": 4 * pb * h + 4 * h * (2 if pb < 4 else 1),
            "attention": pb * (3 * q + 2 * kv) + 4 * shape.heads,
            "mlp": 4 * pb * shape.intermediate, "rotary": 2 * pb * shape.head_dim}


def loss_tile_tokens(vocab: int, setting: int = 0) -> int:
    """``training.loss.tile_tokens`` without importing torch."""
    return setting if setting > 0 else max(16, TILE_ENTRIES // max(1, vocab))


@dataclass(frozen=True)
class Term:
    name: str
    bytes: float
    when: str  # run, backward, loss, layer or step
    note: str


@dataclass(frozen=True)
class MemoryPlan:
    terms: list[Term]
    world: int
    sp: int
    device: str
    capacity: float  # bytes
    summary: str  # the settings in one line
    host: float = 0.0  # bytes per rank moved to host memory by offload

    def held(self, when: str) -> float:
        return sum(t.bytes for t in self.terms if t.when == when)

    @property
    def total(self) -> float:
        backward = self.held("backward") + max(self.held("loss"), self.held("layer"))
        return self.held("run") + max(backward, self.held("step"))

    @property
    def headroom(self) -> float:
        return self.capacity - self.total

    @property
    def fits(self) -> bool:
        return self.headroom >= 0


def plan_memory(shape: ModelShape, cfg, world: int, *, device: str = "gpu", capacity_gib: float = 80.0,
                tokens: int | None = None, runtime: float | None = None) -> MemoryPlan:
    """The plan for ``cfg`` (a ``TrainConfig``) on ``world`` ranks of ``device`` (gpu or cpu).
    ``tokens``: the sequence length, if not the cutoff (a short sample without packing);
    ``runtime``: the runtime term in bytes, if measured (``bench/memory_plan.py`` measures it)."""
    if world < 1 or world % cfg.sequence_parallel:
        raise ValueError(f"world size: {world} is not a multiple of sequence_parallel {cfg.sequence_parallel}")
    if cfg.sequence_parallel > 1:
        from training.parallel.sequence_parallel import layout_problem  # (imports torch)

        if problem := layout_problem(world, cfg.sequence_parallel, shape.heads, shape.kv_heads):
            raise ValueError(problem)
    cpu = device == "cpu"
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and not cpu)
    pb = 2 if bf16 else 4  # weights, gradients and activations share the model's dtype
    sp, z3, off, W = cfg.sequence_parallel, cfg.zero_stage == 3, cfg.offload, world  # ZeRO partitions over all ranks
    s, P = shape, shape.params
    seq = tokens or cfg.cutoff
    T = cfg.micro_batch * math.ceil(seq / sp)  # tokens this rank holds through the layers
    h, inter, q, D = s.hidden, s.intermediate, s.q_width, s.head_dim
    largest = max(s.vocab * h, max(s.layer_tensors()))
    host = 0.0
    terms = [Term("runtime", runtime if runtime is not None else CPU_RUNTIME if cpu else GPU_RUNTIME, "run",
                  "measured process baseline (torch, deepspeed, transformers)" if cpu else
                  "CUDA context, cuBLAS, NCCL (estimate)")]

    # ---- model states -------------------------------------------------------------------------------
    if z3:
        gathered = min(P, max(s.vocab * h, s.layer_params) + PREFETCH_BUCKET) + s.persistent_params
        terms.append(Term("parameters", (0 if off else P / W * pb) + gathered * pb, "run",
                          f"{'host' if off else 'device'} partition P/ranks + gathered working set (largest module + "
                          f"prefetch bucket {PREFETCH_BUCKET:.0e} + tensors < {PERSISTENCE_THRESHOLD:.0e})"))
        host += P / W * pb if off else 0
    else:
        terms.append(Term("parameters", P * pb, "run", "ZeRO-2: every rank holds all weights"))
    grads = P / W * pb
    terms.append(Term("gradients", 0 if off else grads, "run",
                      "reduced partition P/ranks" + (" (on host)" if off else "")))
    states = P / W * 12
    terms.append(Term("optimizer", 0 if off else states, "run",
                      "fp32 master copy + Adam m, v: 12 B x P/ranks" + (" (on host)" if off else "")))
    host += (P / W * 4 + states) if off else 0  # the host optimizer's fp32 gradients and states
    buckets = (1 if z3 else 2) * REDUCE_BUCKET  # ZeRO-2 double-buffers its bucket under overlap_comm
    if cpu:
        buckets = min(buckets, P)  # only written pages are resident
    terms.append(Term("buckets", buckets * pb, "run", f"reduce bucket{'' if z3 else 's (2, overlap_comm)'} "
                      f"{REDUCE_BUCKET:.0e} elements"))

    # ---- backward: activations, loss, attention -----------------------------------------------------
    n = 1 if cfg.gradient_checkpointing else s.layers  # layers whose activations are alive at once
    saved = layer_saved(s, pb)
    mlp_grads = 2 * pb * inter  # gradients of two of the MLP's intermediates while its saved tensors are held
    # each layer's input (when checkpointed), the final norm, the loss's copy of the targets' hidden
    # states and the residual stream's gradient in and out
    stream = pb * h * (s.layers if cfg.gradient_checkpointing else 0) + (2 * pb * h + 4 * h) + 3 * pb * h
    terms.append(Term("checkpointed" if cfg.gradient_checkpointing else "residual stream",
                      T * (stream + saved["rotary"] + 32), "backward",
                      (f"input of each of {s.layers} layers + " if cfg.gradient_checkpointing else "") +
                      f"final norm, loss input, residual gradients, rotary; {T:,} tokens"
                      f"{f' (1/{sp} of each sequence)' if sp > 1 else ''}"))
    layer = "layer" if n == 1 else "backward"
    terms.append(Term("layer activations", T * (n * (saved["norms"] + saved["mlp"]) + mlp_grads), layer,
                      ("one layer rebuilt for its backward" if n == 1 else f"all {n} layers (no checkpointing)") +
                      ": norms, MLP 4 x intermediate + 2 gradients"))
    attn_state = T * n * saved["attention"]
    attn = cfg.attn_implementation
    if attn in ("sdpa", "eager"):
        L = cfg.micro_batch * seq
        scores = s.heads * L * seq * (4 + 2 * pb) if attn == "eager" or cpu else 0  # scores, fp32 softmax
        attn_state += L * seq + n * scores
        attn_note = ("sdpa: L x L mask" + (" + the math kernel's scores" if cpu else "")) if attn == "sdpa" else \
            "eager: L x L mask + scores and fp32 softmax"
    else:
        attn_note = "q, k, v, output (flash / sdpa_varlen: linear, no L x L)"
    if sp > 1:  # Ulysses: q, k, v and the output of 1/sp of the heads over the whole sequence
        attn_state += T * n * pb * (2 * q + 2 * max(s.kv_heads, sp) * D)
        attn_note += f"; Ulysses all-to-all over {sp} ranks"
    terms.append(Term("attention", attn_state, layer, attn_note))
    per_entry = 12 + (pb if pb < 4 else 0)  # fp32 log-softmax output, its gradient in and out; cast back
    if cfg.loss == "full":
        terms.append(Term("loss (full logits)", T * s.vocab * per_entry, "loss",
                          f"{T:,} tokens x {s.vocab:,} x {per_entry} B"))
    else:
        tile = min(loss_tile_tokens(s.vocab, cfg.loss_tile_tokens), T)
        terms.append(Term("loss tile", tile * s.vocab * per_entry, "loss",
                          f"{tile} tokens x {s.vocab:,} x {per_entry} B (fp32 log-softmax, its gradients)"))
    terms.append(Term("gradient in flight", largest * pb, "backward",
                      f"the largest tensor's full gradient ({largest / 1e6:,.0f}M) before its bucket"))

    # ---- optimizer step ------------------------------------------------------------------------------
    part = min(P / W, SUB_GROUP) if z3 else P / W
    flat = part * (4 + (pb if pb < 4 else 0))  # flattened gradient and its fp32 copy
    adam_tmp = part * 8 if cpu else 0  # torch AdamW (CPU): sqrt and the denominator
    terms.append(Term("optimizer step", 0 if off else flat + adam_tmp, "step",
                      "on host (offload)" if off else "flat fp32 gradient" + (" + AdamW temporaries" if cpu else "") +
                      (f" of a sub-group (<= {SUB_GROUP:.0e})" if z3 else "")))
    summary = (f"ZeRO-{cfg.zero_stage}{' + offload' if off else ''}, {'bf16' if bf16 else 'fp32'}, sequence parallel "
               f"{sp}, micro-batch {cfg.micro_batch} x {seq:,} tokens, loss {cfg.loss}, attention {attn}, "
               f"gradient checkpointing {'on' if cfg.gradient_checkpointing else 'off'}, on {device}")
    return MemoryPlan(terms, W, sp, device, capacity_gib * GIB, summary, host)


def render(plans: list[MemoryPlan], shape: ModelShape) -> str:
    """One table, a column per plan (world size), in GiB per rank."""
    head = [f"{p.world} rank{'s' if p.world > 1 else ''}" for p in plans]
    width = max(9, *(len(x) for x in head))
    rows = [(t.name, [p.terms[i].bytes for p in plans], t.when, t.note) for i, t in enumerate(plans[0].terms)]

    def line(name: str, cells: list[str], when: str = "", note: str = "") -> str:
        return f"{name:<20}" + "".join(f"{c:>{width + 2}}" for c in cells) + f"  {when:<9}{note}".rstrip()

    out = [f"memory plan per rank: {shape.source}, {shape.params / 1e9:.2f}B parameters",
           plans[0].summary, "", line("term (GiB)", head, "held", "from")]
    out += [line(name, [f"{b / GIB:.2f}" for b in values], when, note) for name, values, when, note in rows]
    out.append(line("total", [f"{p.total / GIB:.2f}" for p in plans], "",
                    "run + max(backward + max(loss, layer), step)"))
    if any(p.host for p in plans):
        out.append(line("host (offload)", [f"{p.host / GIB:.2f}" for p in plans], "", "per rank, in CPU memory"))
    out.append(line("device", [f"{p.capacity / GIB:.2f}" for p in plans]))
    out.append(line("headroom", [f"{p.headroom / GIB:.2f}" for p in plans], "", "device - total"))
    out.append(line("fits", ["yes" if p.fits else "no" for p in plans]))
    if plans[0].device == "gpu":
        out.append("\nPredicted, not measured on a GPU; the CUDA allocator's fragmentation is not in it "
                   "(keep ~10% free).")
    return "\n".join(out)
