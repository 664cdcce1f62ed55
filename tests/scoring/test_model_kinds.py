"""DPO, custom-head and pairwise model kinds against independent re-implementations of rewardbench's code, one example at a time."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from rm_mlflow import DataOptions, ScoringSettings
from rm_mlflow.benchmarking import score_reward_model
from rm_mlflow.data import load_benchmark
from rm_mlflow.errors import ModelLoadError
from rm_mlflow.scoring import load_reward_model, score_conversations
from rm_mlflow.scoring.pairwise import CONTEXT_TEMPLATE, PROMPT
from tests.helpers import SAMPLE


def _pairs():
    return [(example.conversation(example.chosen[0]), example.conversation(example.rejected[0]))
            for example in load_benchmark("rewardbench", SAMPLE).examples]


def _rewardbench_dpo_logps(model, tokenizer, conversation, mode: str) -> float:
    """rewardbench's DPOInference.tokenize_row + get_batch_logps for one conversation, unbatched."""
    prompt = tokenizer.apply_chat_template(list(conversation[:-1]), tokenize=False)
    text = tokenizer.apply_chat_template(list(conversation), tokenize=False).replace(prompt, "")
    full = tokenizer(prompt + text, add_special_tokens=False)["input_ids"]
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    start = len(prompt_ids) - (prompt_ids != full[: len(prompt_ids)])
    ids = [tokenizer.bos_token_id, *full[:start], *full[start:], tokenizer.eos_token_id]
    labels = torch.tensor(ids[1:])
    mask = torch.arange(1, len(ids)) >= start + 1
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, :-1]
    per_token = torch.gather(logits.log_softmax(-1), 1, labels.unsqueeze(1)).squeeze(1)
    if mode == "avg":
        return ((per_token * mask).sum() / mask.sum()).item()
    if mode == "norm":
        return -torch.norm(per_token * mask, p=2).item()
    return (per_token * mask).sum().item()


@pytest.mark.parametrize("mode", ["reference", "avg", "sum", "norm"])
def test_dpo_scores_equal_rewardbench_dpo_inference(mode, tiny_causal_lms):
    values = {"ref_model": str(tiny_causal_lms["reference"])} if mode == "reference" else {"ref_free_type": mode}
    settings = ScoringSettings.from_mapping(values)
    model = load_reward_model(str(tiny_causal_lms["policy"]), settings, kind="dpo")
    conversations = [conversation for pair in _pairs() for conversation in pair]
    ours = score_conversations(model, conversations, settings, progress=False).scores

    tokenizer = AutoTokenizer.from_pretrained(tiny_causal_lms["policy"])
    policy = AutoModelForCausalLM.from_pretrained(tiny_causal_lms["policy"]).eval()
    if mode == "reference":
        reference = AutoModelForCausalLM.from_pretrained(tiny_causal_lms["reference"]).eval()
        expected = [_rewardbench_dpo_logps(policy, tokenizer, c, "sum") - _rewardbench_dpo_logps(reference, tokenizer, c, "sum")
                    for c in conversations]
    else:
        expected = [_rewardbench_dpo_logps(policy, tokenizer, c, mode) for c in conversations]
    assert ours == pytest.approx(expected, abs=1e-4)
    assert model.describe()["leaderboard_type"] == ("DPO" if mode == "reference" else "DPO Ref. Free")


def test_a_second_policy_reuses_the_reference_log_probs(tiny_causal_lms):
    reference = str(tiny_causal_lms["reference"])
    with_reference = ScoringSettings.from_mapping({"ref_model": reference})
    first = score_reward_model(str(tiny_causal_lms["policy"]), ["rewardbench"], data=SAMPLE, settings=with_reference, progress=False)
    second = score_reward_model(str(tiny_causal_lms["policy2"]), ["rewardbench"], data=SAMPLE, settings=with_reference, progress=False)
    # the first run may find some in the shared cache already (another test scored the same reference); the second finds all
    assert first.throughput["reference_scored"] + first.throughput["reference_from_cache"] == 50
    assert (second.throughput["reference_scored"], second.throughput["reference_from_cache"]) == (0.0, 50.0)
    assert first.benchmarks["rewardbench"].examples["chosen_scores"].tolist() != second.benchmarks["rewardbench"].examples["chosen_scores"].tolist()


def test_dpo_is_chosen_automatically_when_a_reference_is_given_and_works_on_best_of_n(tiny_causal_lms, shared_data):
    report = score_reward_model(
        str(tiny_causal_lms["policy"]), ["rmb"],
        settings=ScoringSettings.from_mapping(dict(ref_model=str(tiny_causal_lms["reference"]), truncation="left", max_length=512)),
        data=DataOptions(data_dir=shared_data, subsets=("BoN_set/Helpfulness/Code/Documentation",)), progress=False,
    )
    rmb = report.benchmarks["rmb"]
    assert report.model["kind"] == "dpo" and len(rmb.examples) == 15
    expected = [float(min(c) > max(r)) for c, r in zip(rmb.examples["chosen_scores"], rmb.examples["rejected_scores"], strict=True)]
    assert rmb.scores.subsets["BoN_set/Helpfulness/Code/Documentation"] == pytest.approx(np.mean(expected))


def test_custom_head_runs_only_with_trust_remote_code_and_reads_the_named_attribute(tiny_custom_head):
    refused = r"runs its own code \(AutoModelForSequenceClassification: modeling_tiny_multi_objective\..*--trust_remote_code"
    with pytest.raises(ModelLoadError, match=refused):
        load_reward_model(str(tiny_custom_head), ScoringSettings())
    settings = ScoringSettings.from_mapping(dict(trust_remote_code=True, score_attribute="score"))
    model = load_reward_model(str(tiny_custom_head), settings)
    assert model.describe()["kind"] == "custom"
    conversations = [conversation for pair in _pairs()[:6] for conversation in pair]
    ours = score_conversations(model, conversations, settings, progress=False).scores

    tokenizer = AutoTokenizer.from_pretrained(tiny_custom_head)
    reference = AutoModelForSequenceClassification.from_pretrained(tiny_custom_head, trust_remote_code=True).eval()
    expected, objectives = [], []
    with torch.no_grad():
        for conversation in conversations:
            inputs = tokenizer(tokenizer.apply_chat_template(list(conversation), tokenize=False), return_tensors="pt")
            output = reference(**inputs)
            expected.append(output.score[0, 0].item())
            objectives.append(output.rewards[0].tolist())
    assert ours == pytest.approx(expected, abs=1e-5)

    weighted = ScoringSettings.from_mapping(dict(trust_remote_code=True, score_attribute="rewards", objective_weights=(0.5, 0.25, 0.25)))
    ours = score_conversations(load_reward_model(str(tiny_custom_head), weighted), conversations, weighted, progress=False).scores
    assert ours == pytest.approx([0.5 * a + 0.25 * b + 0.25 * c for a, b, c in objectives], abs=1e-5)


def _slic_pair_pm(model, tokenizer, conversation_a, conversation_b) -> float:
    """rewardbench's SlicPairPMPipeline for one pair: P(chosen better), averaged over both orders."""
    context = tokenizer.apply_chat_template(list(conversation_a[:-1]), chat_template=CONTEXT_TEMPLATE, tokenize=False)
    responses = [conversation_a[-1]["content"], conversation_b[-1]["content"]]
    token_a, token_b = (tokenizer.encode(x, add_special_tokens=False)[0] for x in ("A", "B"))
    probs = []
    for position in (0, 1):
        prompt = PROMPT.format(context=context, response_A=responses[position], response_B=responses[1 - position])
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False).replace(tokenizer.bos_token, "")
        with torch.no_grad():
            logits = model(tokenizer.encode(text, return_tensors="pt", add_special_tokens=False)).logits[0, -1]
        logit_a, logit_b = logits[token_a].item(), logits[token_b].item()
        probs.append(np.exp([logit_a, logit_b][position]) / (np.exp(logit_a) + np.exp(logit_b)))
    return float(np.mean(probs))


def test_pairwise_judges_both_orders_like_slic_pair_pm_and_reports_position_consistency(tiny_causal_lms, shared_data):
    report = score_reward_model(str(tiny_causal_lms["policy"]), ["rewardbench"], data=SAMPLE, model_kind="pairwise", progress=False)
    table = report.benchmarks["rewardbench"].examples
    tokenizer = AutoTokenizer.from_pretrained(tiny_causal_lms["policy"])
    model = AutoModelForCausalLM.from_pretrained(tiny_causal_lms["policy"]).eval()
    expected = [_slic_pair_pm(model, tokenizer, a, b) for a, b in _pairs()]
    assert [scores[0] for scores in table["chosen_scores"]] == pytest.approx(expected, abs=1e-5)
    assert table["correct"].tolist() == [float(p > 0.5) for p in expected]
    assert 0.0 <= report.metrics()["rewardbench/position_consistency"] <= 1.0 and "position_consistency" in table

    bon = score_reward_model(str(tiny_causal_lms["policy"]), ["rmb"], model_kind="pairwise", progress=False,
                                data=DataOptions(data_dir=shared_data, subsets=("BoN_set/Helpfulness/Code/Documentation",)),
                                settings=ScoringSettings(truncation="left", max_length=1024)).benchmarks["rmb"]
    rows = bon.examples
    assert (rows["correct"] == [float(min(c) > 0.5) for c in rows["chosen_scores"]]).all()  # chosen must beat every loser


def test_bad_kind_inputs_are_one_clear_line(tiny_causal_lms, tiny_custom_head, tmp_path):
    no_tokenizer = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_causal_lms["policy"], no_tokenizer)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (no_tokenizer / name).unlink(missing_ok=True)
    with pytest.raises(ModelLoadError, match=r"no-tokenizer: cannot load a tokenizer from"):
        load_reward_model(str(no_tokenizer), ScoringSettings.from_mapping(dict(ref_free_type="avg")), kind="dpo")

    from rm_mlflow.tiny_models import build_tiny_reward_model

    foreign = build_tiny_reward_model(tmp_path / "foreign-ref", corpus=["completely other words " * 50], head="causal-lm")
    with pytest.raises(ModelLoadError, match=r"reference model .*foreign-ref: .*the same tokens under both models"):
        load_reward_model(str(tiny_causal_lms["policy"]), ScoringSettings.from_mapping(dict(ref_model=str(foreign))), kind="dpo")

    model = load_reward_model(str(tiny_custom_head), ScoringSettings.from_mapping(dict(trust_remote_code=True, score_attribute="reward")))
    with pytest.raises(ModelLoadError, match=r"output has no 'reward' \(it has: rewards, score\); pass --score_attribute"):
        score_conversations(model, [_pairs()[0][0]], model.settings, progress=False)


def _rewardbench_tokenize_row(tokenizer, prompt_messages, chosen, rejected, max_length=2048, max_prompt_length=128):
    """rewardbench's DPOInference.tokenize_row (keep_end), ported line by line: the token ids of chosen and rejected."""
    prompt = tokenizer.apply_chat_template(prompt_messages, tokenize=False)
    texts = [tokenizer.apply_chat_template([*prompt_messages, {"role": "assistant", "content": r}], tokenize=False).replace(prompt, "")
             for r in (chosen, rejected)]
    built = []
    for answer in texts:
        full = tokenizer(prompt + answer, add_special_tokens=False)["input_ids"]
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        start = len(prompt_ids) - (prompt_ids != full[: len(prompt_ids)])
        built.append({"prompt": [tokenizer.bos_token_id, *full[:start]], "answer": [*full[start:], tokenizer.eos_token_id]})
    longer = max(len(b["answer"]) for b in built)
    for b in built:
        if len(b["prompt"]) + longer > max_length:
            b["prompt"] = b["prompt"][-max_prompt_length:]
    for b in built:
        if len(b["prompt"]) + longer > max_length:
            b["answer"] = b["answer"][: max_length - max_prompt_length]
    return [(b["prompt"] + b["answer"], len(b["prompt"])) for b in built]


def test_dpo_truncation_cuts_both_responses_of_a_pair_by_the_longer_one(tiny_causal_lms):
    from rm_mlflow.data import PreferenceExample

    model = load_reward_model(str(tiny_causal_lms["policy"]), ScoringSettings.from_mapping(dict(ref_free_type="sum", truncation="left")), kind="dpo")
    prompt = ({"role": "user", "content": "Summarize this report. " + "The committee met and discussed the budget. " * 60},)
    example = PreferenceExample(id="1", subset="s", prompt=prompt, chosen=("Short answer.",), rejected=("A very long answer. " * 600,))
    tokenized = model.tokenize(model.units(example))
    expected = _rewardbench_tokenize_row(model.tokenizer, list(prompt), example.chosen[0], example.rejected[0])
    assert [(item.input_ids, item.response_start) for item in tokenized] == [(tuple(ids), start) for ids, start in expected]
    assert tokenized[0].truncated and tokenized[1].truncated  # the short chosen response's prompt was cut too, as rewardbench cuts it
