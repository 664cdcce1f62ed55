"""Pairwise preference models: a causal LM reads the prompt and two responses and says which is better.

The format is rewardbench's ``SlicPairPMPipeline`` (RLHFlow's pair-preference models): the context is
rendered with its ``<turn> user`` / ``<turn> assistant`` template, then
``[CONTEXT] {context} [RESPONSE A] {A} [RESPONSE B] {B}`` (and a newline) goes in a user turn of the model's own
chat template (BOS removed, no special tokens added), and P(A is better) is the softmax of the
next-token logits of ``A`` and ``B``. Each chosen/rejected pair is judged in both orders and
P(chosen is better) is the mean of the two, as rewardbench does; a pair is won when it exceeds 0.5.

For the benchmark's correctness rule the example's scores are chosen = the smallest P(chosen beats
rejected j) over j, rejected j = 1 - P(chosen beats j), so the chosen response wins exactly when it
beats every rejected one (best-of-N). Each example also reports ``position_consistency``: the share of
its pairs whose two orders agree on the winner.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from rm_mlflow.data.types import ChatMessage, PreferenceExample
from rm_mlflow.errors import ModelLoadError, OptionError
from rm_mlflow.scoring.base import Conversation, ExampleScores, MarginReading, RewardModel, TokenizedConversation, padded
from rm_mlflow.scoring.hf import config_and_tokenizer, input_device, load_weights
from rm_mlflow.scoring.lengths import length_limit, position_limit, tokenize_with_limit
from rm_mlflow.scoring.loaders import ModelLoader, register_loader, weightless
from rm_mlflow.scoring.settings import ScoringSettings

CONTEXT_TEMPLATE = (
    "\n{% for message in messages %}{% if loop.index0 % 2 == 0 %}\n\n<turn> user\n {{ message['content'] }}"
    "{% else %}\n\n<turn> assistant\n {{ message['content'] }}{% endif %}{% endfor %}\n\n\n"
)
PROMPT = "[CONTEXT] {context} [RESPONSE A] {response_A} [RESPONSE B] {response_B} \n"
FIRST, SECOND = "response_a", "response_b"  # the roles of the two answers in a comparison unit


class PairwiseRewardModel(RewardModel):
    """A causal LM judging ordered pairs; each unit is (prompt, response A, response B) and scores P(A is better)."""

    def margin_reading(self) -> MarginReading:
        """A pairwise model's outputs compare two answers in one pass: they are not per-answer Bradley-Terry rewards."""
        return MarginReading(None, "a pairwise model's scores compare two answers; they are not per-answer rewards")

    def __init__(self, model: Any, tokenizer: Any, settings: ScoringSettings, *, name: str) -> None:
        import torch

        self.model = model
        self._setup(model.config, tokenizer, settings, name)
        self.device = input_device(model)
        self._torch = torch

    @classmethod
    def without_weights(cls, config: Any, tokenizer: Any, settings: ScoringSettings, *, name: str) -> PairwiseRewardModel:
        """A weightless instance that builds and tokenizes comparisons as the loaded judge will (the checks before loading)."""
        preview = cls.__new__(cls)
        preview.model, preview.device = None, "none"
        preview._setup(config, tokenizer, settings, name)
        return preview

    def _setup(self, config: Any, tokenizer: Any, settings: ScoringSettings, name: str) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self.settings = settings
        self.name = name
        ids = [tokenizer.encode(letter, add_special_tokens=False) for letter in ("A", "B")]
        if any(len(found) != 1 for found in ids):
            raise ModelLoadError(f"{name}: 'A' and 'B' must each be one token for a pairwise judge (got {ids})")
        self._token_a, self._token_b = ids[0][0], ids[1][0]
        if not getattr(tokenizer, "chat_template", None):
            raise ModelLoadError(f"{name}: the tokenizer has no chat template to put the comparison in a user turn")

    def units(self, example: PreferenceExample) -> list[Conversation]:
        """Every (chosen, rejected) pair in both orders."""
        if not example.rejected:
            raise OptionError(f"example {example.id}: a pairwise model compares responses; instruction rows (no rejected) cannot be scored")
        units = []
        for chosen in example.chosen:
            for rejected in example.rejected:
                units.append((*example.prompt, ChatMessage(role=FIRST, content=chosen), ChatMessage(role=SECOND, content=rejected)))
                units.append((*example.prompt, ChatMessage(role=FIRST, content=rejected), ChatMessage(role=SECOND, content=chosen)))
        return units

    def example_scores(self, example: PreferenceExample, unit_scores: Sequence[float]) -> ExampleScores:
        """P(chosen beats rejected j) averaged over both orders; chosen wins when it beats every rejected."""
        k = len(example.rejected)
        wins, agree = [], []
        for i in range(len(example.chosen)):
            row = []
            for j in range(k):
                first, swapped = unit_scores[2 * (i * k + j)], unit_scores[2 * (i * k + j) + 1]
                row.append((first + (1.0 - swapped)) / 2)
                agree.append((first > 0.5) == (swapped < 0.5))
            wins.append(row)
        chosen = tuple(min(row) for row in wins)
        rejected = tuple(1.0 - min(wins[i][j] for i in range(len(wins))) for j in range(k))
        return ExampleScores(chosen=chosen, rejected=rejected, extras={"position_consistency": sum(agree) / len(agree)})

    def tokenize(self, conversations: Sequence[Conversation]) -> list[TokenizedConversation]:
        """The comparison prompt in the model's chat template, without BOS or added special tokens."""
        texts = [self._text(unit) for unit in conversations]
        limit = length_limit(self.settings.max_length, self.max_positions())
        hint = f" (max_length {self.settings.max_length}); pass --truncation left to keep the end of such comparisons, or a larger --max_length"
        return tokenize_with_limit(self.tokenizer, texts, limit=limit, truncation=self.settings.truncation, hint=hint, add_special_tokens=False)

    def _text(self, unit: Conversation) -> str:
        prompt, first, second = list(unit[:-2]), unit[-2], unit[-1]
        context = self.tokenizer.apply_chat_template(prompt, chat_template=CONTEXT_TEMPLATE, tokenize=False)
        question = PROMPT.format(context=context, response_A=first["content"], response_B=second["content"])
        text = self.tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False)
        return text.replace(self.tokenizer.bos_token, "") if self.tokenizer.bos_token else text

    def score_batch(self, batch: Sequence[TokenizedConversation]) -> list[float]:
        """P(A) from the next-token logits of ``A`` and ``B`` after each prompt (left-padded, positions counted from each row's start)."""
        torch = self._torch
        input_ids, attention_mask = padded(self.tokenizer, batch, side="left")
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        kwargs = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(self.model.forward).parameters else {}
        with torch.inference_mode():
            inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids}
            logits = self.model(**{key: value.to(self.device) for key, value in inputs.items()}, **kwargs).logits[:, -1].float()
        pair = torch.stack([logits[:, self._token_a], logits[:, self._token_b]], dim=-1)
        return torch.softmax(pair, dim=-1)[:, 0].cpu().tolist()

    def max_positions(self) -> int | None:
        """The judge's position limit."""
        return position_limit(self.config)

    def describe(self) -> dict[str, Any]:
        """Kind, device, dtype, and the comparison format."""
        return {
            "name": self.name,
            "kind": "pairwise",
            "leaderboard_type": "Custom Classifier",  # how the leaderboard lists PairRM and SlicPairPM
            "format": "slic-pair-pm",
            "device": self.device,
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "architecture": type(self.model).__name__,
        }


def load_pairwise(model_id: str, settings: ScoringSettings) -> PairwiseRewardModel:
    """A causal LM as a pairwise judge."""
    from transformers import AutoModelForCausalLM

    _, tokenizer = config_and_tokenizer(model_id, settings)
    model = load_weights(AutoModelForCausalLM, model_id, settings, what="a pairwise preference model (a causal LM)")
    return PairwiseRewardModel(model, tokenizer, settings, name=model_id)


PAIRWISE = register_loader(
    ModelLoader(
        name="pairwise",
        description="causal LMs that read (prompt, A, B) and say which is better (rewardbench's SlicPairPM format), both orders",
        accepts=lambda config, settings: False,  # a checkpoint cannot tell that it is a pairwise judge
        load=load_pairwise,
        preview=weightless(PairwiseRewardModel),
    )
)
