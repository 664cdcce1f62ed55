"""Build tiny, randomly initialised reward models from a config, with a locally trained tokenizer and a chat template.

They are for demos, tests and throughput benchmarks where no Hub is reachable. Their scores are
random functions of the text: they are never presented as trained reward models (the saved config
and README say so).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rm_mlflow.data.types import ChatMessage

CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]
ARCHITECTURES = ("llama", "gpt2")
HEADS = ("classifier", "causal-lm")


def build_tokenizer(corpus: Iterable[str], vocab_size: int = 2000, *, model_tokens: dict[str, str] | None = None):
    """A byte-level BPE tokenizer trained on ``corpus`` (any text still tokenizes), with BOS/EOS/PAD and a chat template.

    ``model_tokens`` are the named special tokens a processor looks up (Gemma 3's ``boi_token``, ``image_token``, ...).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS + list((model_tokens or {}).values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(list(corpus), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_input_names=["input_ids", "attention_mask"],
        **({"model_specific_special_tokens": dict(model_tokens)} if model_tokens else {}),
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


def build_tiny_judge(output_dir: Path | str, *, verdict: str = "[[A]]", rating: int = 8, steps: int = 120, seed: int = 0,
                     comparisons: Sequence[Sequence[ChatMessage]] = ()) -> Path:
    """Train a tiny causal LM into a deliberately biased judge and save it with its tokenizer.

    It is trained (a few seconds on a CPU) on rewardbench's judge prompts over random short answers to
    reply ``"Assistant A is better. {verdict}"`` to every comparison and ``"A fine answer. {rating}"`` (over two lines) to
    every rating request, whatever the answers say. A real judge with a known, total position bias: for
    testing how verdicts, orders, ties and position consistency are counted, never as a judge of quality.
    ``comparisons`` are further judge chats taught the same comparison reply (a benchmark authors' own prompts).
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
    samples += [(tuple(chat), comparison) for chat in comparisons]
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
        encoded.append((prompt_ids + reply_ids, [-100] * len(prompt_ids) + reply_ids, {}))
    loss = _teach(model, tokenizer.pad_token_id, encoded, steps=steps, rng=rng)
    return _save_judge(output_dir, model, tokenizer, (
        "# Tiny biased judge\n\n"
        f"A 2-layer Llama trained by rm-mlflow (seed {seed}, {steps} steps, final loss {loss:.4f}) to answer every comparison "
        f"with {verdict!r} and every rating request with {rating}, whatever the answers say. For tests of verdict counting only.\n"))


def _teach(model: Any, pad_id: int, encoded: list[tuple[list[int], list[int], dict[str, Any]]], *, steps: int, rng: Any) -> float:
    """Train ``model`` on (token ids, labels, other inputs) triples, 8 at a time, right-padded, with AdamW; returns the last loss.

    The other inputs (a picture's ``pixel_values``) are concatenated along the batch.
    """
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        batch = rng.sample(encoded, 8)
        width = max(len(ids) for ids, _, _ in batch)
        input_ids = torch.tensor([ids + [pad_id] * (width - len(ids)) for ids, _, _ in batch])
        labels = torch.tensor([labels + [-100] * (width - len(labels)) for _, labels, _ in batch])
        attention_mask = (torch.arange(width)[None, :] < torch.tensor([len(ids) for ids, _, _ in batch])[:, None]).long()
        others = {key: torch.cat([inputs[key] for _, _, inputs in batch]) for key in batch[0][2]}
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, **others).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    return float(loss.item())


def _save_judge(output_dir: Path | str, model: Any, preprocessor: Any, readme: str) -> Path:
    """Save a trained tiny judge (greedy by default) with its tokenizer or processor and the README that says what it was taught."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.generation_config.do_sample = False
    model.save_pretrained(output_dir)
    preprocessor.save_pretrained(output_dir)
    (output_dir / "README.md").write_text(readme, encoding="utf-8")
    return output_dir


VL_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% else %}{{ '<image>' }}{% endif %}{% endfor %}{% endif %}"
    "{{ eos_token + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def draw_tiny_image(path: Path | str | None, *, hue: str, seed: int, size: int = 48) -> bytes:
    """A real PNG drawn with Pillow: a ``hue`` ("red" or "blue") field with random shapes and a digit; saved to ``path`` when given."""
    import io
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    strong, weak = 200 + rng.randrange(40), (rng.randrange(60), rng.randrange(60))
    base = (strong, *weak) if hue == "red" else (*weak, strong)
    image = Image.new("RGB", (size + rng.randrange(16), size + rng.randrange(16)), base)
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x, y = rng.randrange(size // 2), rng.randrange(size // 2)
        shade = tuple(min(255, channel + 40) for channel in base)
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x, y, x + 6 + rng.randrange(12), y + 6 + rng.randrange(12)), fill=shade)
    draw.text((4, 4), str(rng.randrange(10)), fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def build_tiny_vl_judge(output_dir: Path | str, *, steps: int = 150, seed: int = 0) -> Path:
    """Train a tiny LLaVA (a CLIP vision tower and a 2-layer Llama) into a judge that reads the image's colour, and save it with its processor.

    It is trained (seconds on a CPU) on VL-RewardBench's judge prompt over random short answers and drawn images to
    reply ``"Overall Judgment: Answer 1 is better."`` when the picture is red and ``"... Answer 2 ..."`` when it is
    blue, whatever the answers say. A real vision-language judge whose verdict depends on the pixels it was sent:
    for testing that images reach it, never as a judge of quality.
    """
    import io
    import random

    import torch
    from PIL import Image
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    from rm_mlflow.judges.protocols.vl_rewardbench import prompt_text

    rng = random.Random(seed)
    words = "the a cat dog red blue square circle two three left right above image shows there is".split()

    def text(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n))

    samples = []
    for index in range(64):
        hue = "red" if index % 2 == 0 else "blue"
        prompt = prompt_text(text(6), [text(10), text(10)])
        reply = f"Overall Judgment: Answer {1 if hue == 'red' else 2} is better."
        samples.append((prompt, draw_tiny_image(None, hue=hue, seed=seed * 1000 + index), reply))
    tokenizer = build_tokenizer([prompt for prompt, _, _ in samples] + [reply for _, _, reply in samples], vocab_size=700)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=8, vision_feature_select_strategy="default",
                               chat_template=VL_CHAT_TEMPLATE, num_additional_image_tokens=1)
    torch.manual_seed(seed)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                                       patch_size=8, projection_dim=32),
        text_config=LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                num_key_value_heads=2, max_position_embeddings=4096, pad_token_id=tokenizer.pad_token_id,
                                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"), vision_feature_select_strategy="default", vision_feature_layer=-1,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlavaForConditionalGeneration(config)
    encoded = []
    for prompt, image_bytes, reply in samples:
        chat = [{"role": "user", "content": [{"type": "text", "text": prompt}, {"type": "image"}]}]
        rendered = processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        image = Image.open(io.BytesIO(image_bytes)).convert("RGB")
        inputs = processor(text=rendered, images=image, return_tensors="pt")
        reply_ids = tokenizer(reply, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = inputs["input_ids"][0].tolist()
        encoded.append((ids + reply_ids, [-100] * len(ids) + reply_ids, {"pixel_values": inputs["pixel_values"]}))
    loss = _teach(model, tokenizer.pad_token_id, encoded, steps=steps, rng=rng)
    return _save_judge(output_dir, model, processor, (
        "# Tiny colour-reading vision-language judge\n\n"
        f"A LLaVA (1-layer CLIP vision tower, 2-layer Llama) trained by rm-mlflow (seed {seed}, {steps} steps, final loss {loss:.4f}) "
        "to answer VL-RewardBench's judge prompt with Answer 1 for a red picture and Answer 2 for a blue one, whatever the answers say. "
        "For tests that images reach the judge only.\n"))


def build_tiny_vl_classifier(output_dir: Path | str, *, seed: int = 0, num_labels: int = 1) -> Path:
    """Save a randomly initialised vision-language reward model and its processor.

    A tiny Gemma 3: SigLIP vision tower, 2-layer text model, a head of ``num_labels`` logits (objectives). Its scores are random functions of the
    picture and the text; never a trained model.
    """
    import torch
    from transformers import Gemma3Config, Gemma3ForSequenceClassification, Gemma3Processor, Gemma3TextConfig, SiglipVisionConfig
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    from rm_mlflow.data.sample import sample_corpus

    image_tokens = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    tokenizer = build_tokenizer(sample_corpus(), vocab_size=800, model_tokens=image_tokens)
    processor = Gemma3Processor(image_processor=Gemma3ImageProcessorPil(size={"height": 32, "width": 32}), tokenizer=tokenizer,
                                chat_template=VL_CHAT_TEMPLATE.replace("'<image>'", "'<start_of_image>'"), image_seq_length=4)
    torch.manual_seed(seed)
    config = Gemma3Config(
        text_config=Gemma3TextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                     num_key_value_heads=1, head_dim=16, max_position_embeddings=4096, pad_token_id=tokenizer.pad_token_id),
        vision_config=SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                                         patch_size=8),
        mm_tokens_per_image=4, boi_token_index=tokenizer.convert_tokens_to_ids(image_tokens["boi_token"]),
        eoi_token_index=tokenizer.convert_tokens_to_ids(image_tokens["eoi_token"]),
        image_token_index=tokenizer.convert_tokens_to_ids(image_tokens["image_token"]), num_labels=num_labels,
    )
    config.pad_token_id = tokenizer.pad_token_id
    model = Gemma3ForSequenceClassification(config).eval()
    with torch.no_grad():  # Gemma 3 starts its image projection at zero, which would make the picture count for nothing
        for name, parameter in model.named_parameters():
            if "multi_modal_projector" in name and parameter.dim() > 1:
                parameter.normal_(std=0.5)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    (output_dir / "README.md").write_text(
        f"# Tiny vision-language reward model\n\nA randomly initialised Gemma 3 classifier (seed {seed}) built by rm-mlflow for tests. "
        "NOT trained: its scores carry no preference signal.\n", encoding="utf-8")
    return output_dir
