"""VL-RewardBench: items in the Hub parquet's exact schema (LLMBar's real questions and answers, pictures drawn with Pillow),
judged by a tiny LLaVA trained to read the picture's colour, aggregated as the authors' ``cal.py`` does (run from its source,
``tests/upstream/vl_rewardbench_cal.py``), locally and through ``transformers serve`` with base64 image parts.

The tiny judge's verdicts say nothing about answer quality: it names Answer 1 for a red picture and Answer 2 for a blue one.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from rm_mlflow import DataOptions, ScoringSettings
from rm_mlflow.benchmarking import score_reward_model
from rm_mlflow.data.benchmarks.vl_rewardbench import GROUP_NAMES, VL_REWARDBENCH, dataset_of
from rm_mlflow.data.loading import load_benchmark
from rm_mlflow.data.types import PreferenceExample
from rm_mlflow.errors import DatasetNotAvailableError, DataValidationError
from rm_mlflow.metrics.outcomes import ExampleScores
from rm_mlflow.tiny_models import draw_tiny_image
from tests.helpers import JudgeServer, vl_row, write_vl_parquet
from tests.upstream import vl_rewardbench_cal as cal

# one id prefix per source dataset the authors' get_dataset_from_id knows
PREFIXES = {"RLAIF-V": "rlaif-v", "RLHF-V": "rlhf-v", "mathverse": "reasoning_tasks", "mmmu": "reasoning_tasks",
            "wildvision": "wildvision-battle", "hallucination": "povid", "VLFeedback": "vlfeedback"}
SETTINGS = {"max_new_tokens": 24, "judge_samples": 3}


def _llmbar_rows(shared_data: Path, count: int) -> list[dict]:
    rows = [row for name in ("Natural.json", "Adversarial_Neighbor.json", "Adversarial_GPTInst.json")
            for row in json.loads((shared_data / "llmbar" / name).read_text())]
    short = [row for row in rows if len(row["input"]) + len(row["output_1"]) + len(row["output_2"]) < 700]
    return short[:count]


def vl_rows(shared_data: Path, per_prefix: int = 5) -> list[dict]:
    """Rows in the Hub parquet's schema: id, query, response (two), image {bytes, path}, human_ranking, models, judge, rationale, query_source."""
    texts = iter(_llmbar_rows(shared_data, per_prefix * len(PREFIXES)))
    rows = []
    for p, prefix in enumerate(PREFIXES):
        for i in range(per_prefix):
            text, n = next(texts), p * per_prefix + i
            hue = "red" if (n * 7 + 3) % 5 < 2 else "blue"
            rows.append(vl_row(f"{prefix}_{n:04d}", {"bytes": draw_tiny_image(None, hue=hue, seed=n), "path": f"{n:04d}.png"},
                               query=text["input"], responses=(text["output_1"], text["output_2"]),
                               ranking=(0, 1) if text["label"] == 1 else (1, 0)) | {"query_source": PREFIXES[prefix]})
    return rows


@pytest.fixture(scope="module")
def vl_data(shared_data, tmp_path_factory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("vl-data")
    rows = vl_rows(shared_data)
    write_vl_parquet(rows, root / "vl-rewardbench" / "data" / "test-00000-of-00001.parquet")
    return root, rows


@pytest.fixture(scope="module")
def local_run(tiny_vl_judge, vl_data):
    root, _ = vl_data
    return score_reward_model(str(tiny_vl_judge), ["vl-rewardbench"], data=DataOptions(data_dir=str(root)), model_kind="generative",
                              settings=ScoringSettings.from_mapping(SETTINGS), progress=False).benchmarks["vl-rewardbench"]


def _upstream_inference_lines(table, rows: list[dict]) -> list[dict]:
    """What the authors' inference_hf.py writes per sample (its ``result`` dict), from our per-example table."""
    by_id = {row["id"]: row for row in rows}
    lines = []
    for item in table.itertuples():
        row = by_id[item.id]
        for order, output, status in zip(item.judge_orders, item.judge_outputs, item.judge_status, strict=True):
            lines.append({"id": row["id"], "query": row["query"], "response": row["response"], "ranking": row["human_ranking"],
                          "models": row["models"], "judge": row["judge"], "rationale": row["rationale"], "query_source": row["query_source"],
                          "meta": {"filter_choice": output, "random_number": 0 if order == "published" else 1, "flag_status": status}})
    return lines


def _run_cal(lines: list[dict], path: Path, k: int) -> tuple[dict, str]:
    """cal.py's main() for one k: distribution (reparse=True: their pattern re-reads our raw answers), classify, distribution_dataset."""
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        distributions = cal.distribution(str(path), k=k, reparse=True, use_llm_parse=False)
        per_dataset = cal.distribution_dataset(cal.classify(distributions, k=k))
    return per_dataset, printed.getvalue()


def _printed_figures(printed: str) -> dict[str, float]:
    groups = re.search(r"general\t hallucination\t reasoning\n([\d.]+)\t ([\d.]+)\t ([\d.]+)", printed)
    overall, macro = re.search(r"Overall Accuracy: ([\d.]+)", printed)[1], re.search(r"Macro Average Acc: ([\d.]+)", printed)[1]
    return {"general": float(groups[1]), "hallucination": float(groups[2]), "reasoning": float(groups[3]), "overall": float(overall),
            "macro": float(macro)}


def _ours_printed(benchmark) -> dict[str, float]:
    figures = {group: benchmark.sections[group] for group in GROUP_NAMES}
    figures |= {"overall": benchmark.score, "macro": benchmark.extra["macro_average"]}
    return {name: float(f"{100 * value:.2f}") for name, value in figures.items()}


def test_figures_equal_the_authors_cal_py_on_our_verdicts(local_run, vl_data, tmp_path):
    _, rows = vl_data
    table, scores = local_run.examples, local_run.scores
    assert len(table) == len(rows) and set(table["subset"]) == set(PREFIXES.values())
    assert (table["judge_judgments"] == SETTINGS["judge_samples"]).all()
    assert {"agree", "reject"} <= {status for statuses in table["judge_status"] for status in statuses}  # the drawn orders differ
    per_dataset, printed = _run_cal(_upstream_inference_lines(table, rows), tmp_path / "inference.jsonl", k=SETTINGS["judge_samples"])
    for subset, counts in per_dataset.items():
        judged = table[(table["subset"] == subset) & table["correct"].notna()]
        assert (counts["agree_number"], counts["reject_number"]) == (int(judged["correct"].sum()), int((judged["correct"] == 0).sum()))
        assert counts["accept_rate"] == round(scores.subsets[subset], 4)
    assert _printed_figures(printed) == _ours_printed(scores)
    print(f"\ncal.py printed:\n{printed}ours: {scores.sections} overall {scores.score:.4f} macro {scores.extra['macro_average']:.4f}")


def test_items_without_a_majority_are_left_out_as_cal_py_leaves_them_out(vl_data, tmp_path):
    """Synthetic sample verdicts with every mix of agree, reject and no match, through our rule and through cal.py."""
    _, rows = vl_data
    patterns = ["Overall Judgment: Answer {agree} is better.", "Overall Judgment: Answer {reject} is better.", "I cannot tell."]
    mixes = [(0, 0, 0), (0, 0, 1), (0, 1, 1), (1, 1, 1), (0, 2, 2), (2, 2, 2), (0, 1, 2), (1, 2, 2), (0, 0, 2)]
    outcomes, lines = [], []
    for n, row in enumerate(rows):
        mix = mixes[n % len(mixes)]
        better = row["human_ranking"].index(0)
        votes = tuple((1, -1, 0)[kind] for kind in mix)
        example = PreferenceExample(id=row["id"], subset=dataset_of(row["id"]), prompt=(), chosen=("a",), rejected=("b",))
        outcomes.append(VL_REWARDBENCH.outcome(example, ExampleScores(chosen=(0.0,), rejected=(0.0,), votes=votes)))
        for sample, kind in enumerate(mix):
            random_number = sample % 2  # the shown order: rejected sits at position 2 - better when published, else 1 + better
            rejected_position = (2 - better) if random_number == 0 else (1 + better)
            text = patterns[kind].format(agree=3 - rejected_position, reject=rejected_position)
            lines.append({"id": row["id"], "query": row["query"], "response": row["response"], "ranking": row["human_ranking"],
                          "meta": {"filter_choice": text, "random_number": random_number, "flag_status": "unused"}})
    ours = VL_REWARDBENCH.score(outcomes)
    per_dataset, printed = _run_cal(lines, tmp_path / "mixed.jsonl", k=3)
    assert ours.extra["left_out"] == sum(1 for n in range(len(rows)) if max(mixes[n % len(mixes)].count(k) for k in (0, 1)) < 2)
    assert _printed_figures(printed) == _ours_printed(ours)
    assert {subset: counts["accept_rate"] for subset, counts in per_dataset.items()} == {s: round(v, 4) for s, v in ours.subsets.items()}


def test_the_endpoint_judge_sees_the_same_images_and_gives_the_same_verdicts(local_run, tiny_vl_judge, vl_data, tmp_path):
    """``transformers serve`` takes OpenAI image_url parts (base64 data URLs) and renders them with the judge's processor."""
    root, _ = vl_data
    server = JudgeServer(tiny_vl_judge, tmp_path / "server").start()
    try:
        remote = score_reward_model(str(tiny_vl_judge), ["vl-rewardbench"], data=DataOptions(data_dir=str(root)), model_kind="generative",
                                    settings=ScoringSettings.from_mapping(SETTINGS | {"judge_endpoint": server.url}), progress=False)
        served = server.completions_served()
    finally:
        server.stop()
    ours, theirs = local_run.examples, remote.benchmarks["vl-rewardbench"].examples
    assert list(theirs["judge_verdicts"]) == list(ours["judge_verdicts"])
    assert list(theirs["judge_prompt_tokens"]) == list(ours["judge_prompt_tokens"])  # the image's tokens included, on both sides
    assert list(theirs["correct"].fillna(-1)) == list(ours["correct"].fillna(-1))
    assert {verdict for verdicts in ours["judge_verdicts"] for verdict in verdicts} == {"1", "2"}  # the verdict follows the pixels
    assert served == len({(item.id, order) for item in ours.itertuples() for order in item.judge_orders})  # each distinct chat asked once
    verdicts = [verdict for verdicts in ours["judge_verdicts"] for verdict in verdicts]
    print(f"\n{len(ours)} items, {len(verdicts)} sample verdicts ({verdicts.count('1')} Answer 1, {verdicts.count('2')} Answer 2), "
          f"{served} distinct chats served by transformers serve; verdicts and prompt tokens identical to the local backend")


def test_images_are_references_by_content_in_tables_and_digests(local_run, vl_data, tmp_path):
    root, rows = vl_data
    table = local_run.examples
    assert all(len(refs) == 1 and refs[0].startswith("sha256:") for refs in table["images"])
    first = load_benchmark("vl-rewardbench", DataOptions(data_dir=str(root)))
    assert first.digest == load_benchmark("vl-rewardbench", DataOptions(data_dir=str(root))).digest
    changed = [dict(row) for row in rows]
    changed[0]["image"] = {"bytes": draw_tiny_image(None, hue="red", seed=999), "path": "0000.png"}  # same text, another picture
    other = tmp_path / "changed"
    write_vl_parquet(changed, other / "vl-rewardbench" / "test.parquet")
    assert load_benchmark("vl-rewardbench", DataOptions(data_dir=str(other))).digest != first.digest


@pytest.mark.parametrize(("damage", "expected"), [
    (lambda row, tmp: row.update(image={"bytes": None, "path": str(tmp / "missing.png")}), "image file .*missing.png not found"),
    (lambda row, tmp: row.update(image={"bytes": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "path": "x.png"}), "not a decodable image"),
    (lambda row, tmp: row.update(human_ranking=[0, 0]), "expected the ranks of the two answers"),
])
def test_a_bad_image_row_is_one_line_naming_file_row_and_field(vl_data, tmp_path, damage, expected):
    _, rows = vl_data
    bad = [dict(row) for row in rows[:4]]
    damage(bad[2], tmp_path)
    write_vl_parquet(bad, tmp_path / "vl-rewardbench" / "test.parquet")
    with pytest.raises(DataValidationError) as error:
        load_benchmark("vl-rewardbench", DataOptions(data_dir=str(tmp_path)))
    message = str(error.value)
    assert "\n" not in message and "test.parquet" in message and "row 3" in message and re.search(expected, message)


def test_offline_without_a_copy_the_message_names_the_download(tmp_path):
    from rm_mlflow.data.loading import load_benchmarks

    with pytest.raises(DatasetNotAvailableError) as error:
        load_benchmarks(["vl-rewardbench"], DataOptions(data_dir=str(tmp_path)))
    assert "MMInstruction/VL-RewardBench (data/test-00000-of-00001.parquet) is not available offline" in str(error.value)
    assert "hf download MMInstruction/VL-RewardBench --repo-type dataset --local-dir DATA_DIR/vl-rewardbench" in str(error.value)


def test_a_registered_vl_judge_is_evaluated_by_mlflow_and_by_the_registration_service(tracking, tiny_vl_judge, vl_data, local_run, tmp_path):
    """``rm_mlflow.log_model`` keeps the processor; ``models:/`` through ``mlflow.models.evaluate`` and through a service worker."""
    import mlflow
    from mlflow import MlflowClient

    import rm_mlflow
    from rm_mlflow.benchmarking import IntervalOptions
    from rm_mlflow.pipeline import EvaluationRequest
    from rm_mlflow.service.queue import JobQueue
    from rm_mlflow.service.selection import ModelSelector
    from rm_mlflow.service.worker import JobTemplate, Worker
    from rm_mlflow.tracking.version_tags import SCORE_TAG, STATUS_TAG

    root, _ = vl_data
    client = MlflowClient()
    mlflow.set_experiment("vl-judges")
    with mlflow.start_run():
        info = rm_mlflow.log_model(str(tiny_vl_judge), registered_model_name="tiny-vl-judge", settings={"max_new_tokens": 24, "judge_samples": 3})
    logged = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "logged")))
    assert (logged / "reward_model" / "processor_config.json").is_file() and (logged / "reward_model" / "chat_template.jinja").is_file()
    with mlflow.start_run() as run:
        result = mlflow.models.evaluate(model="models:/tiny-vl-judge/1", data=["vl-rewardbench"], model_type="reward_model",
                                        evaluators="reward_model",
                                        evaluator_config={"data_dir": str(root), "progress": False, "bootstrap_resamples": 0, "log_traces": 2})
    assert result.metrics["vl-rewardbench/score"] == pytest.approx(local_run.scores.score, abs=1e-12)  # the logged judge_samples applied
    assert result.metrics["vl-rewardbench/section/hallucination"] == pytest.approx(local_run.scores.sections["hallucination"], abs=1e-12)
    traces = mlflow.search_traces(run_id=run.info.run_id, return_type="list")
    shown = {path for trace in traces for path in trace.data.spans[0].inputs["images"]}
    stored = {item.path for item in client.list_artifacts(run.info.run_id, "example_images")}
    assert traces and shown == stored and all(path.endswith(".png") for path in stored)  # each traced example's picture beside its trace
    first = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=sorted(stored)[0], dst_path=str(tmp_path / "img")))
    assert first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    client.set_registered_model_tag("tiny-vl-judge", "rm_eval", "true")
    queue = JobQueue(tmp_path / "queue.sqlite")
    queue.enqueue("tiny-vl-judge", "1", origin="test")
    plan = JobTemplate(request=EvaluationRequest(model="", datasets=("vl-rewardbench",), data=DataOptions(data_dir=str(root)), progress=False,
                                                 intervals=IntervalOptions(resamples=0)), experiment="vl-service")
    job = Worker(queue, plan, ModelSelector(), output_root=tmp_path / "jobs").run_once()
    tags = client.get_model_version("tiny-vl-judge", "1").tags
    assert job is not None and tags[STATUS_TAG] == "succeeded", tags
    assert float(tags[SCORE_TAG]) == pytest.approx(local_run.scores.score, abs=1e-4)


@pytest.fixture(scope="module")
def tiny_vl_classifier(tmp_path_factory) -> Path:
    from rm_mlflow.tiny_models import build_tiny_vl_classifier

    return build_tiny_vl_classifier(tmp_path_factory.mktemp("tiny-vl-classifier") / "rm")


def test_a_vl_reward_model_scores_each_answer_with_its_picture(tiny_vl_classifier, vl_data, tmp_path):
    """A random-init Gemma 3 classifier, found from its config: each score is the processor's rendering through the model, and the same
    text over another picture is another unit (the score cache keys images by content)."""
    import torch
    from PIL import Image
    from transformers import AutoModelForSequenceClassification, AutoProcessor

    root, rows = vl_data
    same_text = [dict(rows[0], id="RLAIF-V_9000"), dict(rows[0], id="RLAIF-V_9001", image={"bytes": draw_tiny_image(None, hue="blue", seed=77),
                                                                                            "path": "other.png"})]
    write_vl_parquet([*rows[:4], *same_text], tmp_path / "vl-rewardbench" / "test.parquet")
    report = score_reward_model(str(tiny_vl_classifier), ["vl-rewardbench"], data=DataOptions(data_dir=str(tmp_path)),
                                settings=ScoringSettings.from_mapping({}), progress=False)
    assert report.model["kind"] == "vl-classifier"
    table = report.benchmarks["vl-rewardbench"].examples.set_index("id")
    processor = AutoProcessor.from_pretrained(tiny_vl_classifier)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_vl_classifier).eval()
    for row in [*rows[:2], *same_text]:
        image = Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB")
        better = row["response"][row["human_ranking"].index(0)]
        chat = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": row["query"]}]},
                {"role": "assistant", "content": [{"type": "text", "text": better}]}]
        with torch.no_grad():
            expected = model(**processor.apply_chat_template(chat, tokenize=True, return_dict=True, return_tensors="pt")).logits[0, 0].item()
        assert table.loc[row["id"], "chosen_scores"][0] == pytest.approx(expected, abs=1e-5)
    assert table.loc["RLAIF-V_9000", "chosen_scores"][0] != table.loc["RLAIF-V_9001", "chosen_scores"][0]
    assert set(table["correct"]) <= {0.0, 1.0}  # every item decided by chosen > rejected, none left out


def test_a_multi_objective_vl_head_is_read_as_text_custom_heads_are(vl_data, tmp_path):
    """--score_attribute and --objective_weights on a three-logit vision-language head: the weighted sum, as for ArmoRM-style text heads."""
    import torch
    from PIL import Image
    from transformers import AutoModelForSequenceClassification, AutoProcessor

    from rm_mlflow.tiny_models import build_tiny_vl_classifier

    root, rows = vl_data
    model_dir = build_tiny_vl_classifier(tmp_path / "three-heads", seed=3, num_labels=3)
    weights = (0.5, 0.3, 0.2)
    settings = ScoringSettings.from_mapping({"score_attribute": "logits", "objective_weights": ",".join(map(str, weights))})
    report = score_reward_model(str(model_dir), ["vl-rewardbench"], data=DataOptions(data_dir=str(root), limit=1), settings=settings,
                                progress=False)
    assert report.model["kind"] == "vl-classifier" and report.model["objective_weights"] == list(weights)
    table = report.benchmarks["vl-rewardbench"].examples.set_index("id")
    row = rows[0]
    processor, model = AutoProcessor.from_pretrained(model_dir), AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    image = Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB")
    worse = row["response"][row["human_ranking"].index(1)]
    chat = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": row["query"]}]},
            {"role": "assistant", "content": [{"type": "text", "text": worse}]}]
    with torch.no_grad():
        logits = model(**processor.apply_chat_template(chat, tokenize=True, return_dict=True, return_tensors="pt")).logits[0]
    assert table.loc[row["id"], "rejected_scores"][0] == pytest.approx(float((logits * torch.tensor(weights)).sum()), abs=1e-5)
