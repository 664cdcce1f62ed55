"""Every shell block of the README and of docs/ runs, in order, as a reader would paste it; a broken example fails here.

Each block runs with bash in a fresh folder holding what the examples name: ``./my-rm`` (the tiny Llama reward
model), ``./my-vl-judge`` (the tiny LLaVA judge), ``my_prefs.jsonl``, and ``~/rm-data`` (the shipped RewardBench
sample, ``../shared/data`` and four VL-RewardBench items with drawn pictures, also as ``RM_MLFLOW_DATA_DIR``).
``MLFLOW_TRACKING_URI`` points at a loopback MLflow server where ``my-rm`` has versions 1-4, alias ``champion`` on
v1, and v1 evaluated on RewardBench. Three changes are made to what is written, all
here in plain sight:

- ``--limit 2`` is added to each ``rm-mlflow evaluate`` (this machine scores full RMB in minutes, not seconds);
- real model ids that cannot be had offline are replaced (:data:`PLACEHOLDERS`): a Hub judge by the tiny judge,
  OpenAI's API by ``transformers serve`` on loopback, ``<RUN_ID>`` by a finished evaluation run;
- fixed ports (5000, 8765) become free ones;
- a promotion gate may fail (exit status 3): the tiny models are not better than their champion.

Lines that need what this machine has not (GPUs, a cluster, the Hub, the suite itself) are listed in
:data:`NOT_HERE` with the reason; each must still name flags that exist (``tests/test_docs.py``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rm_mlflow.cli import GATE_FAILED_STATUS
from rm_mlflow.data.sample import SAMPLE_DATA_DIR
from rm_mlflow.testing import stop_process_group
from rm_mlflow.tiny_models import draw_tiny_image
from tests.helpers import SHARED_DATA, free_port, vl_row, write_vl_parquet
from tests.test_docs import FENCE, PAGES

NOT_HERE = {
    "./setup.sh": "CI runs it before this suite",
    "python -m pytest": "the suite this test is part of",
    "mlflow run .": "builds MLflow's own virtualenv from PyPI; tests/test_mlproject.py runs the project (--env-manager local)",
    "accelerate launch": "needs 8 GPUs",
    "torchrun --nnodes 2": "needs two GPU nodes",
    "pip install": "installs the Kubernetes extras",
    "docker build": "needs Docker",
    "export KUBE_MLFLOW_TRACKING_URI": "needs a Kubernetes cluster",
    "mlflow run projects/kubernetes": "needs a Kubernetes cluster",
    "--push": "opens a pull request on the Hub",
    "--repo_id org/my-rm --dry_run": "reads the card of org/my-rm from the Hub",
    "--push_results_to_hub": "pushes a dataset to the Hub (tests/card/test_results_dataset.py pushes to a loopback one)",
    "rm-mlflow publish": "pushes a dataset to the Hub (tests/card/test_results_dataset.py pushes to a loopback one)",
    "Qwen/Qwen2-VL-7B-Instruct": "a served vision-language judge (tests/data/test_vl_rewardbench.py serves the tiny one on loopback)",
}
PLACEHOLDERS = {
    "Qwen/Qwen2.5-7B-Instruct": "{tiny_judge}",
    "gpt-4o-2024-08-06": "{served_judge}",
    "https://api.openai.com/v1": "{judge_url}",
    "OPENAI_API_KEY=...": "OPENAI_API_KEY=rm-mlflow-docs-test-key",
    "<RUN_ID>": "{run_id}",
}


def shell_blocks() -> list[tuple[str, int, str]]:
    """(page, block number, text) of every ``bash`` block of the README and docs/."""
    found = []
    for page in PAGES:
        blocks = [body for lang, body in FENCE.findall(page.read_text()) if lang == "bash"]
        found += [(page.name, index, body) for index, body in enumerate(blocks, start=1)]
    return found


def runnable(block: str) -> tuple[str, list[str]]:
    """The block with the lines that cannot run here commented out (and why), and those reasons."""
    lines, left_out, skipping = [], [], False
    for line in block.splitlines():
        reason = next((why for start, why in NOT_HERE.items() if start in line.split(" #")[0]), None)
        continued = skipping
        skipping = (reason is not None or continued) and line.rstrip().endswith("\\")
        if reason is not None or continued:
            lines.append(f"# not here ({reason or 'continued'}): {line}")
            left_out += [reason] if reason else []
            continue
        if re.match(r"\s*(?:\S+=\S+\s+)*rm-mlflow evaluate\b", line) and "--limit" not in line:
            line = re.sub(r"(rm-mlflow evaluate\b)", r"\1 --limit 2", line, count=1)
        if re.search(r"--gate_|rm-mlflow gate\b", line) and not line.rstrip().endswith("\\"):
            line = f"{line.split(' #')[0]} || test $? -eq {GATE_FAILED_STATUS}"  # a gate the tiny model fails is an outcome, not an error
        lines.append(line)
    return "\n".join(lines) + "\n", left_out


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, tiny_llama, tiny_vl_judge, mlflow_server):
    """The folder, home and MLflow registry the examples expect."""
    import mlflow
    from mlflow import MlflowClient

    import rm_mlflow

    root = tmp_path_factory.mktemp("docs")
    home, work = root / "home", root / "work"
    (home / "rm-data").mkdir(parents=True)
    work.mkdir()
    for source in [*sorted(SAMPLE_DATA_DIR.iterdir()), *sorted(SHARED_DATA.iterdir())]:
        if source.is_dir():
            (home / "rm-data" / source.name).symlink_to(source)
    shutil.copytree(tiny_llama, work / "my-rm")
    shutil.copytree(tiny_vl_judge, work / "my-vl-judge")
    write_vl_parquet([vl_row(f"{prefix}_{n}", {"bytes": draw_tiny_image(None, hue=("red", "blue")[n % 2], seed=n), "path": f"{n}.png"})
                      for n, prefix in enumerate(("RLAIF-V", "wildvision", "mmmu", "hallucination"))],
                     home / "rm-data" / "vl-rewardbench" / "data" / "test-00000-of-00001.parquet")
    (work / "my_prefs.jsonl").write_text('{"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"}\n'
                                         '{"prompt": "Capital of France?", "chosen": "Paris", "rejected": "Lyon"}\n')
    mlflow.set_tracking_uri(mlflow_server)
    mlflow.set_experiment("documented-commands")
    for _ in range(4):
        with mlflow.start_run():
            rm_mlflow.log_model(str(tiny_llama), "rm", registered_model_name="my-rm")
    MlflowClient().set_registered_model_alias("my-rm", "champion", "1")
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    env = {**os.environ, "HOME": str(home), "RM_MLFLOW_DATA_DIR": str(home / "rm-data"), "MLFLOW_TRACKING_URI": mlflow_server,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    env.pop("MLFLOW_EXPERIMENT_ID", None)
    return {"work": work, "env": env, "tracking_uri": mlflow_server}


def latest_evaluation(tracking_uri: str) -> str:
    """The newest finished rm-mlflow evaluation run on the server (what ``<RUN_ID>`` stands for)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    runs = client.search_runs(experiments, "attributes.status = 'FINISHED' and tags.`rm_mlflow.datasets` != ''",
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else "no-evaluation-run-yet"


def _runs_here(block: str) -> bool:
    """Whether anything of the block is left once the lines that cannot run here are out (settings alone do not count)."""
    commands = [line.split(" #")[0].strip() for line in runnable(block)[0].splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return not all(re.fullmatch(r"[A-Z_]+=\S*", command) for command in commands)


def test_the_blocks_left_out_are_settings_or_named_in_not_here():
    left_out = [(page, index, block) for page, index, block in shell_blocks() if not _runs_here(block)]
    for page, index, block in left_out:
        lines = [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        reasons = runnable(block)[1]
        settings = all(re.fullmatch(r"[A-Z_]+=\S*", line.split(" #")[0].strip()) for line in lines)
        assert settings or reasons, f"{page} block {index} runs nothing and names no reason"
    assert len(left_out) < len(shell_blocks())  # a rule that leaves everything out would pass nothing


@pytest.mark.parametrize(("page", "index", "block"), [case for case in shell_blocks() if _runs_here(case[2])],
                         ids=lambda value: str(value)[:30] if isinstance(value, str) else value)
def test_each_documented_shell_block_runs(page, index, block, sandbox, tiny_judge, judge_server, tmp_path):
    script, left_out = runnable(block)
    values = {"tiny_judge": str(tiny_judge), "served_judge": str(tiny_judge), "judge_url": judge_server.url}
    if "<RUN_ID>" in script:
        values["run_id"] = latest_evaluation(sandbox["tracking_uri"])
    for written, replacement in PLACEHOLDERS.items():
        if written not in script:
            continue
        script = script.replace(written, replacement.format(**values))
    ports = {port: str(free_port()) for port in ("5000", "8765") if port in script}
    for port, free in ports.items():
        script = re.sub(rf"(?<=[:\s]){port}\b", free, script)
    commands = [line.split(" #")[0].strip() for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    log = tmp_path / "output.log"
    with log.open("w") as output:  # a file, not a pipe: the block's background servers (&) keep theirs open
        block_process = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], cwd=sandbox["work"], env=sandbox["env"],
                                         stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        status = block_process.wait(timeout=900)
        outcome = _evaluated_version(ports["5000"]) if status == 0 and "rm-mlflow serve" in script else None
    finally:
        stop_process_group(block_process)
    output = log.read_text()
    print(f"\n{page} block {index}: {len(commands)} command(s), exit {status}; left out: {sorted(set(left_out))}\n{output[-3000:]}")
    assert status == 0, f"{page} block {index} failed:\n{script}\n--- output ---\n{output[-6000:]}"
    assert "Traceback" not in output
    if outcome is not None:
        assert outcome["rm_eval.status"] == "succeeded" and float(outcome["rm_eval.score"]) >= 0, outcome


def _evaluated_version(port: str) -> dict[str, str]:
    """The tags of my-rm v1 once the service the block started has evaluated it."""
    from mlflow import MlflowClient

    from tests.helpers import wait_for

    client = MlflowClient(f"http://127.0.0.1:{port}")
    return wait_for(lambda: (tags := dict(client.get_model_version("my-rm", "1").tags)).get("rm_eval.status") in ("succeeded", "failed") and tags,
                    timeout=600, what="the service to evaluate my-rm v1")
