"""Tiny random Qwen2-style models and a byte-level BPE tokenizer, built offline in the test."""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_CORPUS = [
    "<think>\nLet me think step by step about the problem.\n</think>\n\nThe answer is \\boxed{42}.",
    "Find the sum of 2 and 3. Compute 7 * 8. What is the value of x if x + 1 = 5?",
    "def solve():\n    n = int(input())\n    print(n * 2)\n```python\n```",
    "Which option is correct? A. water B. iron C. helium D. carbon. The answer is (C).",
]


def build_tokenizer(out: Path, vocab_size: int = 400):
    """A byte-level BPE trained on a few lines (any text encodes), with a ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS * 20, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token=None, unk_token=None)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    return fast


def build_qwen2(out: Path, *, seed: int = 0, hidden: int = 32, layers: int = 2, tokenizer=None,
                vocab_size: int | None = None):
    """Save a random 2-layer Qwen2 (hidden 32) and its tokenizer to ``out``; returns ``out``."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = tokenizer or build_tokenizer(out)
    if tokenizer is not None:
        tok.save_pretrained(out)
    cfg = Qwen2Config(vocab_size=vocab_size or len(tok), hidden_size=hidden, intermediate_size=hidden * 2,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=4096, tie_word_embeddings=False, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, bos_token_id=None)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(cfg)
    model.save_pretrained(out)
    return out
