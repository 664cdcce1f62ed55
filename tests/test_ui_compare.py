"""The MLflow UI's compare view of two evaluation runs, in headless Chromium (Debian's /usr/bin/chromium via Playwright)."""

import json
import shutil

import mlflow
import pytest

from rm_mlflow.tracking import DataOptions, evaluate_to_run
from tests.conftest import REPO_ROOT, SAMPLE_DATA

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags that keep Chromium off the network: this machine refuses outside connections.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOT = REPO_ROOT / "test-output" / "compare-runs.png"


def test_compare_view_shows_rewardbench_metrics_of_two_runs(tracking, tiny_llama, tiny_gpt2):
    playwright = pytest.importorskip("playwright.sync_api", reason="install the dev extra: pip install -e '.[dev]'")
    if not shutil.which(CHROMIUM):
        pytest.fail("Chromium is missing: apt-get install chromium (.ci/run does)")
    experiment = mlflow.set_experiment("ui-compare")
    data = DataOptions(data_dir=str(SAMPLE_DATA))
    runs = [evaluate_to_run(str(model), ["rewardbench"], data=data, run_name=name, progress=False).run_id
            for name, model in (("tiny-llama", tiny_llama), ("tiny-gpt2", tiny_gpt2))]

    url = f"{tracking}/#/compare-runs?runs={json.dumps(runs)}&experiments={json.dumps([experiment.experiment_id])}"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 2400})
            page.goto(url)
            page.get_by_text("rewardbench/section/chat_hard").first.wait_for(timeout=60_000)
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            text = page.inner_text("body")
        finally:
            browser.close()
    assert "Comparing 2 Runs" in text
    for name in ("tiny-llama", "tiny-gpt2", "rewardbench/score", "rewardbench/section/chat", "rewardbench/subset/alpacaeval-easy"):
        assert name in text, name
    assert SCREENSHOT.stat().st_size > 10_000
