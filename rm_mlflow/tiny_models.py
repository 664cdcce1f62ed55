"""Build tiny, randomly initialised reward models from a config, with a locally trained tokenizer and a chat template.

They are for demos, tests and throughput benchmarks where no Hub is reachable. Their scores are
random functions of the text: they are never presented as trained reward models (the saved config
and README say so).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + '\n' }}{% endfor %}"
)
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]
ARCHITECTURES = ("llama", "gpt2")


def build_tokenizer(corpus: Iterable[str], vocab_size: int = 2000):
    """A byte-level BPE tokenizer trained on ``corpus`` (any text still tokenizes), with BOS/EOS/PAD and a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(list(corpus), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_input_names=["input_ids", "attention_mask"],
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def build_tiny_reward_model(
    output_dir: Path | str,
    *,
    corpus: Iterable[str] = (),
    architecture: str = "llama",
    hidden_size: int = 64,
    num_layers: int = 2,
    seed: int = 0,
    max_positions: int = 4096,
) -> Path:
    """Save a randomly initialised ``*ForSequenceClassification`` (one label) and its tokenizer to ``output_dir``."""
    import torch
    from transformers import GPT2Config, GPT2ForSequenceClassification, LlamaConfig, LlamaForSequenceClassification

    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}")
    output_dir = Path(output_dir)
    text = list(corpus) or ["The quick brown fox jumps over the lazy dog. 0123456789"]
    tokenizer = build_tokenizer(text)
    common = dict(
        vocab_size=len(tokenizer),
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    if architecture == "llama":
        config = LlamaConfig(
            hidden_size=hidden_size,
            intermediate_size=hidden_size * 2,
            num_hidden_layers=num_layers,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=max_positions,
            **common,
        )
        model = LlamaForSequenceClassification(config)
    else:
        config = GPT2Config(n_embd=hidden_size, n_layer=num_layers, n_head=4, n_positions=max_positions, **common)
        model = GPT2ForSequenceClassification(config)
    model.eval()
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    (output_dir / "README.md").write_text(
        f"# Tiny random {architecture} reward model\n\nRandomly initialised (seed {seed}) by rm-mlflow for tests and demos. "
        "It is not trained: its scores carry no preference signal.\n",
        encoding="utf-8",
    )
    return output_dir
