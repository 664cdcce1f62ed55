"""Build tiny, randomly initialised reward models from a config, with a locally trained tokenizer and a chat template.

They are for demos, tests and throughput benchmarks where no Hub is reachable. Their scores are
random functions of the text: they are never presented as trained reward models (the saved config
and README say so).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]
ARCHITECTURES = ("llama", "gpt2")
HEADS = ("classifier", "causal-lm")


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
    head: str = "classifier",
    tokenizer: Any = None,
) -> Path:
    """Save a randomly initialised model and its tokenizer to ``output_dir``.

    ``head="classifier"``: a ``*ForSequenceClassification`` with one label (a Bradley-Terry reward model);
    ``head="causal-lm"``: a ``*ForCausalLM`` (a DPO policy or reference, or a pairwise judge). Pass the
    ``tokenizer`` of another tiny model to build one that shares its vocabulary.
    """
    import torch
    from transformers import (
        GPT2Config,
        GPT2ForSequenceClassification,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        LlamaForSequenceClassification,
    )

    if architecture not in ARCHITECTURES or head not in HEADS:
        raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)} and head one of {', '.join(HEADS)}")
    output_dir = Path(output_dir)
    text = list(corpus) or ["The quick brown fox jumps over the lazy dog. 0123456789"]
    tokenizer = tokenizer if tokenizer is not None else build_tokenizer(text)
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
        model = (LlamaForSequenceClassification if head == "classifier" else LlamaForCausalLM)(config)
    else:
        config = GPT2Config(n_embd=hidden_size, n_layer=num_layers, n_head=4, n_positions=max_positions, **common)
        model = (GPT2ForSequenceClassification if head == "classifier" else GPT2LMHeadModel)(config)
    model.eval()
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    (output_dir / "README.md").write_text(
        f"# Tiny random {architecture} {'reward model' if head == 'classifier' else 'causal LM'}\n\n"
        f"Randomly initialised (seed {seed}) by rm-mlflow for tests and demos. "
        "It is not trained: its scores carry no preference signal.\n",
        encoding="utf-8",
    )
    return output_dir


# A multi-objective head that returns its reward in ``.score`` (and every objective in ``.rewards``), the way
# ArmoRM's remote code does, for testing the ``custom`` kind. Written next to the weights as the checkpoint's own code.
CUSTOM_HEAD_CODE = '''
from dataclasses import dataclass

import torch
from transformers import LlamaModel, LlamaPreTrainedModel
from transformers.utils import ModelOutput


@dataclass
class TinyMultiObjectiveOutput(ModelOutput):
    rewards: torch.FloatTensor = None
    score: torch.FloatTensor = None


class TinyMultiObjectiveRewardModel(LlamaPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.model = LlamaModel(config)
        self.regression_layer = torch.nn.Linear(config.hidden_size, config.num_objectives, bias=False)
        self.gate = torch.nn.Linear(config.hidden_size, config.num_objectives, bias=False)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        last = attention_mask.sum(-1) - 1  # right padding: the last real token
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        rewards = self.regression_layer(pooled)
        weights = torch.softmax(self.gate(pooled), dim=-1)
        return TinyMultiObjectiveOutput(rewards=rewards, score=(rewards * weights).sum(-1, keepdim=True))
'''


def build_tiny_custom_head_model(output_dir: Path | str, *, corpus: Iterable[str] = (), num_objectives: int = 3, seed: int = 0) -> Path:
    """Save a random-init Llama with a gated multi-objective head in its own remote code (``auto_map``), like ArmoRM."""
    import importlib.util
    import sys

    import torch
    from transformers import LlamaConfig

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    code = output_dir / "modeling_tiny_multi_objective.py"
    code.write_text(CUSTOM_HEAD_CODE, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"tiny_multi_objective_{seed}", code)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)

    tokenizer = build_tokenizer(list(corpus) or ["The quick brown fox jumps over the lazy dog."])
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    config.num_objectives = num_objectives
    config.architectures = ["TinyMultiObjectiveRewardModel"]
    config.auto_map = {"AutoModelForSequenceClassification": "modeling_tiny_multi_objective.TinyMultiObjectiveRewardModel"}
    torch.manual_seed(seed)
    model = module.TinyMultiObjectiveRewardModel(config).eval()
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    (output_dir / "README.md").write_text(
        f"# Tiny random multi-objective reward model\n\nRandomly initialised (seed {seed}) by rm-mlflow for tests; not trained. "
        "Its forward (remote code, modeling_tiny_multi_objective.py) returns .score and .rewards, like ArmoRM.\n",
        encoding="utf-8",
    )
    return output_dir


def build_tiny_judge(output_dir: Path | str, *, verdict: str = "[[A]]", rating: int = 8, steps: int = 120, seed: int = 0) -> Path:
    """Train a tiny causal LM into a deliberately biased judge and save it with its tokenizer.

    It is trained (a few seconds on a CPU) on rewardbench's judge prompts over random short answers to
    reply ``"Assistant A is better. {verdict}"`` to every comparison and ``"A fine answer. {rating}"`` (over two lines) to
    every rating request, whatever the answers say. A real judge with a known, total position bias: for
    testing how verdicts, orders, ties and position consistency are counted, never as a judge of quality.
    """
    import random

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from rm_mlflow.judges.prompts import four_prompt, judge_messages, pair_prompt, rating_prompt

    rng = random.Random(seed)
    words = "the a answer question code safe refuse yes no number list python rust math proof step result because".split()

    def text(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n))

    comparison, rated = f"Assistant A is better. {verdict}", f"A fine answer.\n\n{rating}"
    samples = []
    for _ in range(48):
        prompt = ({"role": "user", "content": text(8)},)
        samples.append((judge_messages(*pair_prompt(prompt, text(12), text(12))), comparison))
        samples.append((judge_messages(*four_prompt(prompt, [text(6) for _ in range(4)])), comparison))
        samples.append((judge_messages(*rating_prompt(prompt, text(12))), rated))
    tokenizer = build_tokenizer([message["content"] for chat, _ in samples for message in chat] + [comparison, rated], vocab_size=600)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        # Rotary positions cost no weights; the room is for real benchmark rows, which this 600-token vocabulary spells
        # out nearly byte by byte (an RMB pair reaches 13k tokens) and which `transformers serve` refuses past this limit.
        max_position_embeddings=32768, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    encoded = []
    for chat, reply in samples:
        text = tokenizer.apply_chat_template(list(chat), tokenize=False, add_generation_prompt=True)
        prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        reply_ids = tokenizer(reply, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        encoded.append((prompt_ids + reply_ids, [-100] * len(prompt_ids) + reply_ids))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        batch = rng.sample(encoded, 8)
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.tensor([ids + [tokenizer.pad_token_id] * (width - len(ids)) for ids, _ in batch])
        labels = torch.tensor([labels + [-100] * (width - len(labels)) for _, labels in batch])
        attention_mask = (torch.arange(width)[None, :] < torch.tensor([len(ids) for ids, _ in batch])[:, None]).long()
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.generation_config.do_sample = False
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    (output_dir / "README.md").write_text(
        "# Tiny biased judge\n\n"
        f"A 2-layer Llama trained by rm-mlflow (seed {seed}, {steps} steps, final loss {loss.item():.4f}) to answer every comparison "
        f"with {verdict!r} and every rating request with {rating}, whatever the answers say. For tests of verdict counting only.\n",
        encoding="utf-8",
    )
    return output_dir
