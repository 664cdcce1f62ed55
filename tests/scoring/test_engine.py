"""The batching engine on real tiny transformers models: same scores as one-at-a-time scoring, each text once."""

import pytest
import torch

from rm_mlflow.data import DataOptions, load_benchmark
from rm_mlflow.errors import SequenceTooLongError
from rm_mlflow.scoring import ScoreCache, ScoringSettings, load_reward_model, score_conversations
from tests.helpers import SAMPLE_DATA, reference_scores


def _conversations():
    examples = load_benchmark("rewardbench", DataOptions(data_dir=SAMPLE_DATA)).examples
    return [example.conversation(response) for example in examples for response in example.responses()]


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_gpt2"])
def test_batched_scores_equal_one_at_a_time_scores(fixture, request):
    model_dir = request.getfixturevalue(fixture)
    conversations = _conversations()
    model = load_reward_model(str(model_dir), ScoringSettings(batch_size=8))
    result = score_conversations(model, conversations, ScoringSettings(batch_size=8), progress=False)
    reference = reference_scores(model_dir, conversations)
    assert result.scores == pytest.approx(reference, abs=1e-5)
    assert result.distinct_conversations == len(conversations)  # the sample set has no repeated response


class CountingModel:
    """Wraps a RewardModel and records every batch it is asked to score."""

    def __init__(self, inner, fail_above: int | None = None, shared: bool = False):
        self.inner, self.fail_above, self.shared, self.batches = inner, fail_above, shared, []
        self.name, self.device = inner.name, inner.device

    def tokenize(self, conversations):
        return self.inner.tokenize(conversations)

    def _count(self, units: int) -> None:
        if self.fail_above is not None and units > self.fail_above:
            raise torch.OutOfMemoryError("simulated CUDA out of memory")
        self.batches.append(units)

    def score_batch(self, batch):
        self._count(len(batch))
        return self.inner.score_batch(batch)

    def shares_prefixes(self):
        return self.shared and self.inner.shares_prefixes()

    def score_prefix_groups(self, groups, budget=None):
        self._count(sum(len(group.suffixes) for group in groups))
        return self.inner.score_prefix_groups(groups, budget)

    def max_positions(self):
        return self.inner.max_positions()


def test_shared_prompts_and_repeated_responses_are_scored_once(tiny_llama):
    conversations = _conversations()
    doubled = conversations + conversations[:10]
    model = CountingModel(load_reward_model(str(tiny_llama)))
    result = score_conversations(model, doubled, progress=False)
    assert sum(model.batches) == len(conversations) == result.distinct_conversations
    assert result.scores[-10:] == result.scores[:10]


@pytest.mark.parametrize("shared", [False, True], ids=["padded", "shared-prefix"])
def test_out_of_memory_splits_the_batch_and_keeps_every_score(tiny_llama, shared):
    conversations = _conversations()
    settings = ScoringSettings(batch_size=16, max_tokens_per_batch=100_000, shared_prefix="on")  # on: pairs packed on a CPU too
    plain = score_conversations(load_reward_model(str(tiny_llama)), conversations, settings, progress=False)
    model = CountingModel(load_reward_model(str(tiny_llama)), fail_above=3, shared=shared)
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
    assert result.truncated_conversations == 1 and "truncated (left side)" in caplog.text


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
    assert resumed.cached_conversations == 20 and sum(model.batches) == len(conversations) - 20
    assert resumed.scores[:20] == pytest.approx(first.scores)
    other = ScoreCache(tmp_path / "cache.jsonl", fingerprint={"model": "another"})
    assert len(other) == 0


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_gpt2"])
def test_shared_prefix_path_scores_as_the_padded_path_and_computes_fewer_tokens(fixture, request, shared_data):
    from rm_mlflow.benchmarking import score_reward_model

    model_dir = request.getfixturevalue(fixture)
    # RMB best-of-N (up to 7 answers a prompt) and multi-turn pairs; the GPT-2 takes 256 positions: its rows are cut, keeping their start
    data = DataOptions(data_dir=str(shared_data), subsets=("BoN_set/Helpfulness/Code/Data Management", "Pairwise_set/Harmlessness/S1"),
                       limit=12, skip_invalid=True)
    settings = {"truncation": "left", "max_length": 4096} if fixture == "tiny_llama" else {"truncation": "right", "max_length": 256}
    reports = {mode: score_reward_model(str(model_dir), ["rmb"], data=data, settings=ScoringSettings(shared_prefix=mode, **settings),
                                           progress=False) for mode in ("off", "on")}  # on: pairs packed on this CPU too
    assert reports["off"].model["scoring_path"] == "padded" and reports["on"].model["scoring_path"] == "shared-prefix"
    off, auto = (reports[mode].benchmarks["rmb"].examples for mode in ("off", "on"))
    for column in ("chosen_scores", "rejected_scores"):
        assert [s for row in auto[column] for s in row] == pytest.approx([s for row in off[column] for s in row], abs=1e-5)
    assert list(auto["correct"]) == list(off["correct"])
    throughput = reports["on"].throughput
    assert throughput["computed_tokens"] < throughput["scored_tokens"] == reports["off"].throughput["computed_tokens"]
    print(f"\n{fixture}: {throughput['computed_tokens']:.0f} of {throughput['scored_tokens']:.0f} tokens computed")


def test_prefix_groups_share_tokens_only_and_keep_a_suffix_per_unit():
    from rm_mlflow.scoring.base import TokenizedConversation
    from rm_mlflow.scoring.engine import prefix_groups

    prompt = ({"role": "user", "content": "Q"},)
    units = [(*prompt, {"role": "assistant", "content": text}) for text in ("a", "b", "c")] + [({"role": "user", "content": "other"},
                                                                                                {"role": "assistant", "content": "x"})]
    tokenized = [TokenizedConversation((1, 5, 6, 7, 8)), TokenizedConversation((1, 5, 6, 9)), TokenizedConversation((1, 5, 6)),
                 TokenizedConversation((1, 2, 3))]
    groups = prefix_groups(range(4), units, tokenized)
    assert [members for members, _ in groups] == [[0, 1, 2], [3]]
    shared = groups[0][1]
    assert shared.prefix == (1, 5) and shared.suffixes == ((6, 7, 8), (6, 9), (6,))  # the shortest unit keeps its last token
    assert groups[1][1].prefix == (1, 2) and groups[1][1].suffixes == ((3,),)
    tokenized[1] = TokenizedConversation((1, 5, 6, 9), mask_first=True)
    assert [members for members, _ in prefix_groups(range(3), units, tokenized)] == [[0], [1], [2]]


def test_a_prompt_with_many_responses_is_split_to_the_token_budget():
    from rm_mlflow.scoring.base import PrefixGroup
    from rm_mlflow.scoring.engine import within_budget

    # an RMB prompt answered 10 times: one group of 60 + 10 x 800 tokens would be one 8,060-token row
    group = PrefixGroup(tuple(range(60)), tuple(tuple(range(100 + i, 900 + i)) for i in range(10)), False)
    parts = within_budget([(list(range(10)), group), ([10], PrefixGroup((1,), ((2,) * 5000,), False))], 2048)
    assert [members for members, _ in parts] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10]]
    assert all(part.prefix == group.prefix and part.computed_tokens <= 2048 for _, part in parts[:-1])
    assert [s for _, part in parts[:-1] for s in part.suffixes] == list(group.suffixes)
    assert parts[-1][1].computed_tokens == 5001  # one unit over the budget still gets its row


def test_an_encoder_is_scored_whole_and_says_why(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification

    from rm_mlflow.tiny_models import build_tokenizer

    tokenizer = build_tokenizer(["a tiny encoder corpus"] * 4, vocab_size=300)
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=1,
                        pad_token_id=tokenizer.pad_token_id)
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    model = load_reward_model(str(tmp_path))
    assert not model.shares_prefixes() and model.describe()["scoring_path"] == "padded"
    assert "no decoder backbone" in model.padded_reason
