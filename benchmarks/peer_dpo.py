"""rewardbench's DPO evaluation (``scripts/run_dpo.py``'s loop) over the installed package's own code, in the peer's virtualenv.

``scripts/run_dpo.py`` is not shipped in the ``rewardbench`` wheel, and the CLI's DPO path loads both models
in 8-bit fp16 (bitsandbytes, GPU only) and has no reference-free mode. So this driver repeats run_dpo.py's
loop unchanged except for loading (float32, not quantized, as run_dpo.py does with ``--not_quantized`` on a
CPU): ``rewardbench.utils.prepare_dialogue_from_tokenizer`` formats each row, ``rewardbench.DPOInference``
tokenizes (``tokenize_row``) and scores (``inference_step``), ``trl``'s ``DPODataCollatorWithPadding``
batches, and a pair is correct when its chosen reward is greater.

    peer-python benchmarks/peer_dpo.py --model POLICY [--ref_model REF | --ref_free_type avg] --dataset pairs.jsonl --output out.jsonl
"""

import argparse
import json

import torch
from accelerate import Accelerator
from datasets import Dataset
from rewardbench import DPOInference
from rewardbench.utils import prepare_dialogue_from_tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl.trainer.utils import DPODataCollatorWithPadding


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--ref_model", default=None)
    parser.add_argument("--ref_free_type", default="avg")
    parser.add_argument("--dataset", required=True, help="JSONL rows with chosen/rejected as full conversations (the CLI's --load_json form)")
    parser.add_argument("--batch_size", type=int, default=6)  # run_dpo.py's default
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    tokenizer.pad_token = tokenizer.eos_token  # run_dpo.py
    if tokenizer.bos_token is None:
        tokenizer.bos_token_id = tokenizer.eos_token_id
        tokenizer.pad_token_id = tokenizer.eos_token_id

    rows = [json.loads(line) for line in open(args.dataset)]
    formatted = []
    for row in rows:
        example = {"prompt": row["chosen"][:-1], "chosen": row["chosen"][-1]["content"], "rejected": row["rejected"][-1]["content"]}
        if len(example["prompt"]) == 1:  # single turn: rewardbench's core-set rows carry the prompt as a string
            example["prompt"] = example["prompt"][0]["content"]
        formatted.append(prepare_dialogue_from_tokenizer(example, tokenizer))
    dataset = Dataset.from_list([{key: item[key] for key in ("prompt", "text_chosen", "text_rejected")} for item in formatted])

    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32)
    ref_model = AutoModelForCausalLM.from_pretrained(args.ref_model, torch_dtype=torch.float32) if args.ref_model else None
    dpo = DPOInference(model, ref_model, tokenizer=tokenizer, accelerator=Accelerator(cpu=not torch.cuda.is_available()),
                       ref_free_norm=args.ref_free_type)
    tokenized = dataset.map(dpo.tokenize_row, remove_columns=list(dataset.features))
    loader = torch.utils.data.DataLoader(
        tokenized, batch_size=args.batch_size, shuffle=False, drop_last=False,
        collate_fn=DPODataCollatorWithPadding(pad_token_id=tokenizer.pad_token_id, label_pad_token_id=dpo.label_pad_token_id,
                                              is_encoder_decoder=dpo.is_encoder_decoder),
    )
    scores_chosen, scores_rejected = [], []
    for batch in loader:
        chosen, rejected = dpo.inference_step(batch, ref_free=args.ref_model is None)
        scores_chosen += chosen.float().cpu().numpy().tolist()
        scores_rejected += rejected.float().cpu().numpy().tolist()
    with open(args.output, "w") as handle:
        for row, chosen, rejected in zip(rows, scores_chosen, scores_rejected, strict=True):
            handle.write(json.dumps({"id": row["id"], "subset": row["subset"], "scores_chosen": chosen, "scores_rejected": rejected,
                                     "results": int(chosen > rejected)}) + "\n")


if __name__ == "__main__":
    main()
