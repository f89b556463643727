"""A tiny Qwen2 whose weights are written by hand to act like a reasoning teacher, for tests that run
a real engine (vLLM). Built in a second, no training, the same on every machine.

Random weights answer with noise: enough for plumbing, not for verification, sampling or
scheduling. This checkpoint is an ordinary Qwen2 (2 layers, hidden 512, 8 heads of 64, as vLLM's
CPU attention needs a supported head size) behind an R1-style chat template whose generation
prompt ends with ``<think>``. Its first token depends on the problem:
- a problem that says ``quick`` is answered ``Add two numbers.\\n</think>\\n\\nThe answer is
  \\boxed{7}.`` and the turn ends (every sample verifies against the gold 7);
- a problem that says ``slow`` gets ``Hmm`` and then words drawn at random that never end, so a
  response runs to ``max_tokens`` and each seed gives another text;
- any other problem is a coin toss between the two, decided by the request's seed.

How: the embeddings are one-hot; one attention head attends (through the slowest RoPE pair,
``rope_theta`` 1e9, so position does not matter) to the words ``quick``/``slow`` wherever they are
in the prompt and writes +1/-1 into a spare "mode" dimension; the output head is a table of
next-token logits per current token (a bigram model) plus the mode's push towards ``Add`` or
``Hmm``. Everything else is zero. ``<think>``, ``</think>`` and the words used are single
non-special tokens, as in R1's tokenizer (a reasoning parser looks them up; special tokens would be
stripped from the decoded text).
"""

from __future__ import annotations

import math
from pathlib import Path

QUICK = [f"quick {name}: what is {a} + {7 - a}?" for a, name in enumerate(
    ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"], start=1)]
SLOW = [f"slow {name}: list every prime below ten thousand." for name in ["eta", "theta", "iota", "kappa"]]
COIN = [f"coin {name}: what is 3 + 4?" for name in ["lambda", "mu", "nu", "xi"]]
ANSWER = "Add two numbers.\n</think>\n\nThe answer is \\boxed{7}."
CHAIN = ["Add", " two", " numbers", ".\n", "</think>", "\n\n", "The", " answer", " is", " \\boxed{7}", "."]
RAMBLE = [" wait", " so", " then", " maybe", " check", " again"]
WORDS = ["<think>", "quick", "slow", " Hmm", *CHAIN, *RAMBLE]
CHAT_TEMPLATE = (  # like R1's: the template writes the BOS, and so does the tokenizer unless told not to
    "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>{% endif %}"
)
HIDDEN, HEAD = 512, 64
SURE, RANDOM, PUSH = 60.0, 30.0, 20.0  # logits: a fixed next token, one of several, the mode's push


def _tokenizer(out: Path):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|begin|>"]
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator((QUICK + SLOW + COIN + ["Please reason step by step, and put your final answer "
                                                    "within \\boxed{}."]) * 10, trainer)
    tok.add_tokens([AddedToken(w, special=False, normalized=False) for w in WORDS])
    tok.post_processor = processors.TemplateProcessing(single="<|begin|> $A", pair="<|begin|> $A $B",
                                                       special_tokens=[("<|begin|>", specials.index("<|begin|>"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token="<|begin|>", unk_token=None)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    return fast


def build_reasoner(out: Path) -> Path:
    """Write the checkpoint and its tokenizer to ``out`` (bf16 safetensors); returns ``out``."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = _tokenizer(out)
    vocab = len(tok)
    mode = HIDDEN - 1  # the spare dimension
    assert vocab < mode, vocab
    cfg = Qwen2Config(vocab_size=vocab, hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=HIDDEN // HEAD, num_key_value_heads=2, max_position_embeddings=2048,
                      rope_parameters={"rope_type": "default", "rope_theta": 1e9}, tie_word_embeddings=False,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id)
    model = Qwen2ForCausalLM(cfg)
    ids = {w: tok.convert_tokens_to_ids(w) for w in WORDS}
    eos = tok.eos_token_id
    norm = math.sqrt(HIDDEN)  # a one-hot vector after RMSNorm (weight 1)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for layer in model.model.layers:
            layer.input_layernorm.weight.fill_(1.0)
            layer.post_attention_layernorm.weight.fill_(1.0)
        model.model.norm.weight.fill_(1.0)
        model.model.embed_tokens.weight[:, :vocab] = torch.eye(vocab)
        attn = model.model.layers[0].self_attn
        last = HEAD - 1  # in head 0's slowest RoPE pair: no rotation at any position we use
        attn.q_proj.bias[last] = RANDOM * math.sqrt(HEAD) / norm  # every position asks for the keyword...
        for word, sign in (("quick", 1.0), ("slow", -1.0)):
            attn.k_proj.weight[last, ids[word]] = 1.0  # ...which alone answers: score RANDOM
            attn.v_proj.weight[0, ids[word]] = sign
        attn.o_proj.weight[mode, 0] = 0.1 / norm  # mode dimension: +0.1 quick, -0.1 slow, 0 neither
        head = model.lm_head.weight
        sure, some, push = SURE / norm, RANDOM / norm, PUSH / (0.1 * norm)
        head[ids["Add"], ids["<think>"]] = head[ids[" Hmm"], ids["<think>"]] = some
        head[ids["Add"], mode], head[ids[" Hmm"], mode] = push, -push
        for a, b in zip(CHAIN, CHAIN[1:], strict=False):
            head[ids[b], ids[a]] = sure
        head[eos, ids[CHAIN[-1]]] = sure
        for a in [" Hmm", *RAMBLE]:
            for b in RAMBLE:
                head[ids[b], ids[a]] = some
    model.to(torch.bfloat16).save_pretrained(out)
    return out
