"""The Kubernetes project: the Job MLflow's own Kubernetes backend renders from our template and backend config, and the Docker build context.

No cluster and no Docker daemon: MLflow's functions that parse the backend config, build the entry point's
command and its environment, and fill the job template run as ``mlflow run --backend kubernetes`` runs them.
"""

from __future__ import annotations

import json
import re

import yaml

from tests.helpers import REPO_ROOT

KUBERNETES = REPO_ROOT / "projects" / "kubernetes"


def render_job(parameters: dict[str, str], monkeypatch) -> dict:
    """The Job body MLflow submits for ``mlflow run projects/kubernetes --backend kubernetes -P ...`` (image digest made up)."""
    from mlflow.projects import _parse_kubernetes_config, kubernetes
    from mlflow.projects._project_spec import load_project
    from mlflow.projects.docker import validate_docker_env
    from mlflow.projects.utils import get_entry_point_command, get_run_env_vars

    monkeypatch.chdir(REPO_ROOT)  # the backend config names the template relative to where `mlflow run` is called
    monkeypatch.setenv("KUBE_MLFLOW_TRACKING_URI", "http://mlflow.ml-eval.svc:5000")
    project = load_project(str(KUBERNETES))
    validate_docker_env(project)
    config = _parse_kubernetes_config(json.loads((KUBERNETES / "backend-config.json").read_text()))
    command = get_entry_point_command(project, "main", parameters, None)
    env = get_run_env_vars(run_id="0123456789abcdef", experiment_id="7")
    return kubernetes._get_kubernetes_job_definition(
        project.name, f"{config['repository-uri']}:abc1234", "sha256:" + "0" * 64, kubernetes._get_run_command(command), env,
        config["kube-job-template"],
    )


def test_mlflow_renders_a_gpu_job_that_runs_our_entry_point(monkeypatch):
    job = render_job({"model": "models:/my-rm/3", "datasets": "rewardbench,rmb", "device_map": "auto"}, monkeypatch)
    print(yaml.safe_dump(job, sort_keys=False))  # the rendered spec, for the record (pytest -s)
    assert job["kind"] == "Job" and job["metadata"]["name"].startswith("rm-mlflow-kubernetes-")
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] == 0
    (container,) = pod["containers"]
    assert container["image"] == "registry.example.com/ml/rm-mlflow-eval:abc1234@sha256:" + "0" * 64
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    command = container["command"]
    assert command[:5] == ["python", "-m", "projects.main", "--model", "models:/my-rm/3"]
    assert command[command.index("--datasets") + 1] == "rewardbench,rmb" and command[command.index("--device_map") + 1] == "auto"
    env = {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}
    assert env["MLFLOW_RUN_ID"] == "0123456789abcdef" and env["MLFLOW_EXPERIMENT_ID"] == "7"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.ml-eval.svc:5000"
    assert env["HF_TOKEN"]["secretKeyRef"]["name"] == "hf-token"  # secrets come from Kubernetes secrets, never from the spec

    # MLflow shell-quotes each word but runs the command without a shell: an empty parameter arrives as ''.
    from projects.main import build_parser

    assert command[command.index("--data_dir") + 1] == "''"
    args = build_parser().parse_args(command[3:])
    assert (args.model, args.datasets, args.device_map, args.data_dir, args.max_memory) == ("models:/my-rm/3", "rewardbench,rmb", "auto", "", "")


def test_the_kubernetes_entry_point_takes_what_the_laptop_one_takes():
    root, cluster = (yaml.safe_load(path.read_text()) for path in (REPO_ROOT / "MLproject", KUBERNETES / "MLproject"))
    assert cluster["entry_points"]["main"] == root["entry_points"]["main"]
    assert "docker_env" in cluster and "docker_env" not in root  # `mlflow run .` stays a plain virtualenv run


def test_the_docker_build_context_holds_the_package_and_nothing_heavy():
    from docker.utils.build import exclude_paths

    patterns = [line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")]
    context = exclude_paths(str(REPO_ROOT), patterns)
    assert {"pyproject.toml", "README.md", "rm_mlflow/cli.py", "evaluators/reward_model.py", "projects/main.py"} <= context
    assert not any(path.split("/")[0] in (".venv", ".git", "benchmarks", "tests") for path in context)
    assert sum((REPO_ROOT / path).stat().st_size for path in context if (REPO_ROOT / path).is_file()) < 5 * 2**20
    dockerfile = (KUBERNETES / "Dockerfile").read_text()
    assert re.search(r"^FROM nvidia/cuda:\S+", dockerfile, re.M)
    for line in re.findall(r"^COPY (.+)$", dockerfile, re.M):
        *sources, _ = line.split()
        for source in sources:  # every COPY source is in the context
            assert any(path == source.rstrip("/") or path.startswith(source) for path in context), source
    # MLflow copies the project folder itself into the job's image: small, no secrets
    project_files = [path for path in KUBERNETES.rglob("*") if path.is_file()]
    assert sum(path.stat().st_size for path in project_files) < 64 * 1024
    assert sorted(path.name for path in project_files) == ["Dockerfile", "MLproject", "backend-config.json", "job-template.yaml"]


def test_the_scale_out_page_names_the_kubernetes_project():
    readme = (REPO_ROOT / "docs" / "scale-out.md").read_text()
    assert "mlflow run projects/kubernetes --backend kubernetes --backend-config projects/kubernetes/backend-config.json" in readme
    assert "docker build -f projects/kubernetes/Dockerfile -t rm-mlflow:latest ." in readme
