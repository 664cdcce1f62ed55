"""Run in the rewardbench package's own environment: rewardbench-gen's API path over given examples, against an endpoint.

    OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 OPENAI_API_KEY=... PEER_PYTHON benchmarks/peer_generative.py EXAMPLES.json OUT.json MODEL

This is ``scripts/run_generative.py``'s ``get_judgement`` loop (a ThreadPoolExecutor of 10 threads calling
``rewardbench.generative.run_judge_pair``, winner 1, loser 0, anything else 0.5), with one change: the A/B
order of each example is the one given (rm-mlflow's seeded draw) instead of ``np.random.rand() > 0.5``,
so both tools ask the judge the same questions and their answers can be compared one by one.
"""

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from rewardbench.generative import run_judge_pair


def judge(example, model):
    conversations = [[*example["prompt"], {"role": "assistant", "content": answer}] for answer in example["answers"]]
    answer_a, answer_b = conversations
    if len(answer_a) > 4:  # run_generative.py: "set up only for 1 or 2 turns"
        return {"id": example["id"], "subset": example["subset"], "winner": "error", "judgment": "", "result": 0.5}
    winner, _, judgment = run_judge_pair(example["prompt"][0]["content"], answer_a, answer_b, model, multi_turn=len(answer_a) > 2)
    chosen = example["chosen_letter"]
    loser = "B" if chosen == "A" else "A"
    result = 1 if winner == chosen else 0 if winner == loser else 0.5
    return {"id": example["id"], "subset": example["subset"], "winner": winner, "judgment": judgment, "result": result}


def main(examples_path, out_path, model):
    with open(examples_path, encoding="utf-8") as handle:
        examples = json.load(handle)
    started = time.perf_counter()
    results = [None] * len(examples)
    with ThreadPoolExecutor(max_workers=10) as executor:  # run_generative.py's --num_threads default
        futures = {executor.submit(judge, example, model): index for index, example in enumerate(examples)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
    elapsed = time.perf_counter() - started
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump({"seconds": elapsed, "results": results}, handle)
    print(f"{len(results)} judgments in {elapsed:.1f}s")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
