"""The batching engine on real tiny transformers models: same scores as one-at-a-time scoring, each text once."""

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from rm_mlflow.data import load_benchmark
from rm_mlflow.errors import SequenceTooLongError
from rm_mlflow.scoring import ScoreCache, ScoringSettings, load_reward_model, score_conversations
from tests.conftest import SAMPLE_DATA


def _conversations():
    examples = load_benchmark("rewardbench", data_dir=SAMPLE_DATA).examples
    return [example.conversation(response) for example in examples for response in example.responses()]


def _reference_scores(model_dir: Path, conversations) -> list[float]:
    """What rewardbench's pipeline computes with batch size 1: template text, tokenizer, logits[0][0]."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    scores = []
    with torch.no_grad():
        for conversation in conversations:
            text = tokenizer.apply_chat_template(list(conversation), tokenize=False)
            inputs = tokenizer(text, return_tensors="pt")
            scores.append(model(**inputs).logits[0][0].item())
    return scores


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_gpt2"])
def test_batched_scores_equal_one_at_a_time_scores(fixture, request):
    model_dir = request.getfixturevalue(fixture)
    conversations = _conversations()
    model = load_reward_model(str(model_dir), ScoringSettings(batch_size=8))
    result = score_conversations(model, conversations, ScoringSettings(batch_size=8), progress=False)
    reference = _reference_scores(model_dir, conversations)
    assert result.scores == pytest.approx(reference, abs=1e-5)
    assert result.distinct == len(conversations)  # the sample set has no repeated response


class CountingModel:
    """Wraps a RewardModel and records every batch it is asked to score."""

    def __init__(self, inner, fail_above: int | None = None):
        self.inner, self.fail_above, self.batches = inner, fail_above, []
        self.name, self.device = inner.name, inner.device

    def tokenize(self, conversations):
        return self.inner.tokenize(conversations)

    def score_batch(self, batch):
        if self.fail_above is not None and len(batch) > self.fail_above:
            raise torch.OutOfMemoryError("simulated CUDA out of memory")
        self.batches.append(len(batch))
        return self.inner.score_batch(batch)

    def max_positions(self):
        return self.inner.max_positions()


def test_shared_prompts_and_repeated_responses_are_scored_once(tiny_llama):
    conversations = _conversations()
    doubled = conversations + conversations[:10]
    model = CountingModel(load_reward_model(str(tiny_llama)))
    result = score_conversations(model, doubled, progress=False)
    assert sum(model.batches) == len(conversations) == result.distinct
    assert result.scores[-10:] == result.scores[:10]


def test_out_of_memory_splits_the_batch_and_keeps_every_score(tiny_llama):
    conversations = _conversations()
    settings = ScoringSettings(batch_size=16, max_tokens_per_batch=100_000)
    plain = score_conversations(load_reward_model(str(tiny_llama)), conversations, settings, progress=False)
    model = CountingModel(load_reward_model(str(tiny_llama)), fail_above=3)
    result = score_conversations(model, conversations, settings, progress=False)
    assert max(model.batches) <= 3 and sum(model.batches) == len(conversations)
    assert result.scores == pytest.approx(plain.scores, abs=1e-5)


def test_token_budget_bounds_padded_batch_size(tiny_llama):
    model = CountingModel(load_reward_model(str(tiny_llama)))
    conversations = _conversations()
    tokenized = model.tokenize(conversations)
    longest = max(len(t) for t in tokenized)
    score_conversations(model, conversations, ScoringSettings(batch_size=64, max_tokens_per_batch=longest * 4), progress=False)
    assert model.batches[0] == 4 and max(model.batches) <= 64


def test_no_truncation_fails_clearly_on_a_too_long_conversation(tiny_gpt2):
    long_conversation = [({"role": "user", "content": "word " * 400}, {"role": "assistant", "content": "ok"})]
    model = load_reward_model(str(tiny_gpt2))
    with pytest.raises(SequenceTooLongError, match=r"rmb id 9 chosen: \d+ tokens, but the model takes at most 256.*--truncation left"):
        score_conversations(model, long_conversation, labels=["rmb id 9 chosen"], progress=False)


def test_left_truncation_keeps_the_end_and_is_counted(tiny_gpt2, caplog):
    settings = ScoringSettings(truncation="left", max_length=64)
    model = load_reward_model(str(tiny_gpt2), settings)
    conversation = ({"role": "user", "content": "word " * 400}, {"role": "assistant", "content": "the final answer"})
    full = model.tokenizer(model.formatter.format(conversation))["input_ids"]
    [tokenized] = model.tokenize([conversation])
    assert len(tokenized) == 64 and tokenized.truncated and list(tokenized.input_ids) == full[-64:]
    result = score_conversations(model, [conversation], settings, progress=False)
    assert result.truncated == 1 and "truncated (left side)" in caplog.text


def test_doubled_bos_is_masked_like_rewardbench(tiny_llama):
    from tokenizers.processors import TemplateProcessing

    template = "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}"
    model = load_reward_model(str(tiny_llama), ScoringSettings(chat_template=template))
    bos = model.tokenizer.bos_token_id
    conversation = ({"role": "user", "content": "hi"}, {"role": "assistant", "content": "there"})
    [single] = model.tokenize([conversation])
    # now the tokenizer adds a BOS as well: the Llama-3 "template + tokenizer" double-BOS case
    model.tokenizer.backend_tokenizer.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)])
    [doubled] = model.tokenize([conversation])
    assert doubled.input_ids[:2] == (bos, bos) and doubled.mask_first and not single.mask_first
    # the masked first BOS leaves the rotary model's score as with one BOS
    assert model.score_batch([doubled])[0] == pytest.approx(model.score_batch([single])[0], abs=1e-4)


def test_cache_resumes_without_rescoring(tiny_llama, tmp_path):
    conversations = _conversations()
    settings = ScoringSettings()
    first_model = load_reward_model(str(tiny_llama))
    cache = ScoreCache(tmp_path / "cache.jsonl", fingerprint={"model": "tiny"})
    first = score_conversations(first_model, conversations[:20], settings, cache=cache, progress=False)
    # a new process: the cache is read back from disk
    model = CountingModel(load_reward_model(str(tiny_llama)))
    resumed = score_conversations(model, conversations, settings, cache=ScoreCache(tmp_path / "cache.jsonl", {"model": "tiny"}), progress=False)
    assert resumed.from_cache == 20 and sum(model.batches) == len(conversations) - 20
    assert resumed.scores[:20] == pytest.approx(first.scores)
    other = ScoreCache(tmp_path / "cache.jsonl", fingerprint={"model": "another"})
    assert len(other) == 0
