"""Prompt-text and verdict parity of rm-mlflow's generative judges with rewardbench's own functions, on real rows.

Builds judge cases from real rows (the shipped RewardBench sample, RMB's pairwise two-turn and best-of-N
rows from ``../shared/data``), each with judge outputs that include malformed ones; runs rewardbench's
``generative.py`` / ``generative_v2.py`` on them in the peer's environment (``peer_judge_prompts.py``) and
rm-mlflow's prompt builders and parsers here; compares the exact messages and the verdicts.

    python benchmarks/judge_prompt_parity.py --peer-venv benchmarks/.peer-venv
    python benchmarks/judge_prompt_parity.py --peer-venv ... --write-fixture tests/data/judge_parity.json

The peer environment needs rewardbench's generative extras (anthropic, google-generativeai, google-genai,
openai, together, fschat) next to ``rewardbench==0.1.4``; ``--install`` adds them. Last line:
``RESULT cases=N messages_equal=N verdicts_equal=M/M``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from rm_mlflow.data import DataOptions, load_benchmark  # noqa: E402
from rm_mlflow.data.sample import SAMPLE_DATA_DIR  # noqa: E402
from rm_mlflow.judges.prompts import (  # noqa: E402
    LETTERS,
    four_prompt,
    judge_messages,
    pair_prompt,
    parse_choice,
    parse_rating,
    rating_prompt,
)

PEER_EXTRAS = ["anthropic", "google-generativeai", "google-genai", "openai", "together", "fschat", "transformers==4.51.0", "setuptools<70"]
PAIR_OUTPUTS = [
    "Assistant A answers the question directly. [[A]]", "[[B]]", "At first [[B]], but on reflection [[A]]", "[[A]] and [[B]]",
    "My verdict: [A]", "[[C]]", "", "[[a]]", "Final verdict: [[ B ]]", "[[B]]]", "[[A]\n]",
]
FOUR_OUTPUTS = ["[[C]]", "[[D]] is best", "[[D]], though [[A]] is close", "[[E]]", "none of them", "[[b]]", "[[B]]", "[[A]][[D]]"]
RATING_OUTPUTS = ["Good.\n\n9", "10", "Rating: 7/10", "I'd rate it 7.", "score 11", "0", "It deserves a 3", "3\n\n", "", "8 out of 10",
                  "rating: 1", "10.", "-5", "Score:\n 6 ", "1O"]


def _short(example, limit: int = 2500) -> bool:
    return sum(len(m["content"]) for m in example.prompt) + sum(len(t) for t in example.responses()) < limit


def build_cases(data_dir: Path | None) -> list[dict]:
    """Judge cases from real rows: single-turn pairs, two-turn pairs, four answers, ratings and Ties ratings."""
    sample = load_benchmark("rewardbench", DataOptions(data_dir=str(SAMPLE_DATA_DIR))).examples
    cases = []
    seen_subsets = set()
    for example in sample:
        if example.subset in seen_subsets or not _short(example):
            continue
        seen_subsets.add(example.subset)
        prompt = [dict(m) for m in example.prompt]
        if len(seen_subsets) <= 6:
            cases.append({"kind": "pair", "source": f"rewardbench-sample {example.id}", "prompt": prompt,
                          "answers": [example.chosen[0], example.rejected[0]], "outputs": PAIR_OUTPUTS})
        elif len(seen_subsets) <= 8:
            cases.append({"kind": "rating", "source": f"rewardbench-sample {example.id}", "prompt": prompt,
                          "answers": [example.chosen[0]], "outputs": RATING_OUTPUTS})
        elif len(seen_subsets) <= 10:
            cases.append({"kind": "ties", "source": f"rewardbench-sample {example.id}", "prompt": prompt,
                          "answers": [example.rejected[0]], "outputs": RATING_OUTPUTS})
    if data_dir is not None:
        rmb = load_benchmark("rmb", DataOptions(data_dir=str(data_dir), skip_invalid=True)).examples
        two_turn = [e for e in rmb if e.kind == "pairwise" and len(e.prompt) == 3 and _short(e, 4000)][:3]
        four = [e for e in rmb if e.kind == "best_of_n" and len(e.rejected) >= 3 and len(e.prompt) == 1 and _short(e, 6000)][:3]
        for example in two_turn:
            cases.append({"kind": "pair", "source": f"rmb {example.id}", "prompt": [dict(m) for m in example.prompt],
                          "answers": [example.rejected[0], example.chosen[0]], "outputs": PAIR_OUTPUTS})
        for example in four:
            cases.append({"kind": "four", "source": f"rmb {example.id}", "prompt": [dict(m) for m in example.prompt],
                          "answers": [example.rejected[0], example.chosen[0], *example.rejected[1:3]], "outputs": FOUR_OUTPUTS})
    return cases


def ours(case: dict) -> dict:
    """rm-mlflow's messages and verdicts for a case (rewardbench's spelling: ``error`` and -1 for no verdict)."""
    prompt, answers = case["prompt"], case["answers"]
    if case["kind"] == "pair":
        messages, verdicts = judge_messages(*pair_prompt(prompt, *answers)), [parse_choice(o, LETTERS[:2]) for o in case["outputs"]]
    elif case["kind"] == "four":
        messages, verdicts = judge_messages(*four_prompt(prompt, answers)), [parse_choice(o, LETTERS) for o in case["outputs"]]
    else:
        variant = "ties" if case["kind"] == "ties" else "standard"
        messages = judge_messages(*rating_prompt(prompt, answers[0], variant))
        verdicts = [rating if (rating := parse_rating(o)) is not None else -1 for o in case["outputs"]]
    return {"messages": [dict(m) for m in messages], "verdicts": verdicts}


def messages_digest(messages: list[dict]) -> str:
    """A hash of a judge chat: the fixture keeps no benchmark text (RMB states no license), only what identifies it."""
    return hashlib.sha256(json.dumps(messages, ensure_ascii=False).encode()).hexdigest()


def fixture(cases: list[dict], peer: list[dict]) -> dict:
    """What the test compares with: each case's source and outputs, and rewardbench's message hash and verdicts."""
    return {
        "cases": [{"kind": case["kind"], "source": case["source"], "outputs": case["outputs"]} for case in cases],
        "rewardbench": [{"messages_sha256": messages_digest(result["messages"]), "verdicts": result["verdicts"]} for result in peer],
    }


def run_peer(python: Path, cases: list[dict]) -> list[dict]:
    with tempfile.TemporaryDirectory() as folder:
        cases_path, out_path = Path(folder) / "cases.json", Path(folder) / "peer.json"
        cases_path.write_text(json.dumps(cases), encoding="utf-8")
        subprocess.run([str(python), str(HERE / "peer_judge_prompts.py"), str(cases_path), str(out_path)], check=True)
        return json.loads(out_path.read_text(encoding="utf-8"))


def compare(cases: list[dict], peer: list[dict]) -> tuple[int, int, int]:
    """(cases whose messages are equal, verdicts equal, verdicts), printing each difference."""
    messages_equal = verdicts_equal = verdicts = 0
    for case, theirs in zip(cases, peer, strict=True):
        mine = ours(case)
        if mine["messages"] == theirs["messages"]:
            messages_equal += 1
        else:
            print(f"MESSAGES DIFFER: {case['kind']} {case['source']}")
        for output, a, b in zip(case["outputs"], mine["verdicts"], theirs["verdicts"], strict=True):
            verdicts += 1
            verdicts_equal += a == b
            if a != b:
                print(f"VERDICT DIFFERS: {case['kind']} {output!r}: ours {a!r}, rewardbench {b!r}")
    return messages_equal, verdicts_equal, verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer-venv", type=Path, default=HERE / ".peer-venv", help="the rewardbench environment (see compare_rewardbench.py)")
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data", help="RMB's real rows (../shared/data)")
    parser.add_argument("--install", action="store_true", help="add rewardbench's generative extras to the peer environment first")
    parser.add_argument("--write-fixture", type=Path, default=None, help="also write the cases and rewardbench's answers here (the test fixture)")
    args = parser.parse_args()
    python = args.peer_venv / "bin" / "python"
    if args.install:
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_EXTRAS], check=True)
    cases = build_cases(args.data_dir if args.data_dir.is_dir() else None)
    peer = run_peer(python, cases)
    messages_equal, verdicts_equal, verdicts = compare(cases, peer)
    kinds = {kind: sum(case["kind"] == kind for case in cases) for kind in ("pair", "four", "rating", "ties")}
    print(f"cases: {kinds}")
    if args.write_fixture:
        args.write_fixture.write_text(json.dumps(fixture(cases, peer), indent=1), encoding="utf-8")
        print(f"fixture written to {args.write_fixture}")
    print(f"RESULT cases={len(cases)} messages_equal={messages_equal} verdicts_equal={verdicts_equal}/{verdicts}")


if __name__ == "__main__":
    main()
