"""Run in the rewardbench package's own environment: its judge prompts and verdict parsing on given cases.

    PEER_PYTHON benchmarks/peer_judge_prompts.py CASES.json OUT.json

Each case is a prompt (list of messages) with two answers (``pair``), four answers (``four``) or one answer
(``rating``, ``ties`` for RewardBench 2's Ties prompt), and a list of judge outputs. For every case this
calls rewardbench's own functions (``generative.run_judge_pair`` / ``_get_single_rating``,
``generative_v2.run_judge_four`` / ``get_single_rating``) with the API call replaced by one that records
the messages it was sent and returns each given output in turn, and writes what they built and parsed.
Nothing here re-implements rewardbench: the strings and verdicts are the package's.
"""

import json
import sys

import rewardbench.generative as v1
import rewardbench.generative_v2 as v2

MODEL = "gpt-4o-2024-08-06"  # any name in rewardbench's OpenAI list: it routes the call through the replaced function


def _recording(outputs, sent):
    replies = iter(outputs)

    def call(*args, **kwargs):
        conv_or_messages = kwargs["messages"] if "messages" in kwargs else args[1]
        messages = conv_or_messages.to_openai_api_messages() if hasattr(conv_or_messages, "to_openai_api_messages") else conv_or_messages
        sent.append([dict(m) for m in messages])
        return next(replies)

    return call


def _conversation(prompt, answer):
    return [*prompt, {"role": "assistant", "content": answer}]


def run_case(case):
    prompt, outputs, sent, verdicts = case["prompt"], case["outputs"], [], []
    question = prompt[0]["content"]
    if case["kind"] == "pair":
        v1.chat_completion_openai = _recording(outputs, sent)
        a, b = (_conversation(prompt, answer) for answer in case["answers"])
        for _ in outputs:
            verdicts.append(v1.run_judge_pair(question, a, b, MODEL, multi_turn=len(a) > 2)[0])
    elif case["kind"] == "four":
        v2.chat_completion_openai = _recording(outputs, sent)
        answers = [_conversation(prompt, answer) for answer in case["answers"]]
        for _ in outputs:
            verdicts.append(v2.run_judge_four(question, *answers, MODEL, multi_turn=False)[0])
    elif case["kind"] == "rating":
        v1.chat_completion = _recording(outputs, sent)
        for _ in outputs:
            verdicts.append(v1._get_single_rating(question, case["answers"][0], MODEL)[0])
    elif case["kind"] == "ties":
        v2.chat_completion = _recording(outputs, sent)
        for _ in outputs:
            rate = getattr(v2, "get_single_rating", None) or v2._get_single_rating  # renamed after 0.1.4
            verdicts.append(rate(question, case["answers"][0], MODEL, is_ties=True)[0])
    else:
        raise ValueError(f"unknown case kind {case['kind']!r}")
    return {"messages": sent[0], "verdicts": verdicts}


def main(cases_path, out_path):
    with open(cases_path, encoding="utf-8") as handle:
        cases = json.load(handle)
    results = [run_case(case) for case in cases]
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1, ensure_ascii=False)
    print(f"{len(results)} cases written to {out_path}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
