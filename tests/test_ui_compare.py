"""The MLflow UI's compare view of the demo's two evaluation runs, in headless Chromium (Debian's /usr/bin/chromium via Playwright)."""

import shutil
import urllib.parse

import pytest

from tests.helpers import REPO_ROOT, MlflowServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags that keep Chromium off the network: this machine refuses outside connections.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOT = REPO_ROOT / "test-output" / "compare-runs.png"


def test_compare_view_of_the_demo_runs_shows_their_rewardbench_metrics(demo):
    playwright = pytest.importorskip("playwright.sync_api", reason="install the dev extra: pip install -e '.[dev]'")
    if not shutil.which(CHROMIUM):
        pytest.fail("Chromium is missing: ./setup.sh installs it (apt-get install chromium)")
    server = MlflowServer(demo.workdir).start()  # what the demo's printed `mlflow ui --backend-store-uri ...` serves
    try:
        # the demo's own printed link, pointed at this server's port
        url = demo.compare_url.replace("http://127.0.0.1:5000", server.url)
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 2400})
                page.goto(url)
                page.get_by_text("gate/passed").first.wait_for(timeout=60_000)
                page.wait_for_timeout(500)
                SCREENSHOT.parent.mkdir(exist_ok=True)
                page.screenshot(path=str(SCREENSHOT), full_page=True)  # the gate's metrics lead the table
                text = _scroll_metrics(page)
            finally:
                browser.close()
    finally:
        server.stop()
    assert "Comparing 2 Runs" in text
    assert urllib.parse.quote(demo.versions[0].run_id) in url
    for name in ("rm-demo-v1", "rm-demo-v2", "rewardbench/score", "rewardbench/section/chat", "rewardbench/subset/alpacaeval-easy", "gate/passed"):
        assert name in text, name
    assert f"{demo.versions[1].metrics['rewardbench/score']:.4g}"[:5] in text
    _assert_a_rendered_page(SCREENSHOT)


def _assert_a_rendered_page(path):
    """The screenshot is a real page: a full-size PNG with text and tables in it, not a blank or an error tile."""
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= 1000 and image.height >= 600, image.size
        colors = image.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colors is None or len(colors) > 100, f"{path}: only {len(colors)} colours"


def _scroll_metrics(page, steps: int = 200) -> str:
    """The page's text with every row of the compare view's metrics table, which renders only the rows in view: wheel through it."""
    values = page.locator(".ReactVirtualized__Grid").last  # the values grid; the page keeps the names grid in step
    box = values.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    seen = [page.inner_text("body")]
    for _ in range(steps):
        before = values.evaluate("grid => grid.scrollTop")
        page.mouse.wheel(0, 120)
        page.wait_for_timeout(120)
        seen.append(page.inner_text("body"))
        if values.evaluate("grid => grid.scrollTop") == before:
            break
    return "\n".join(seen)


def _chromium_page_text(url: str, screenshot, wait_for: str) -> str:
    playwright = pytest.importorskip("playwright.sync_api", reason="install the dev extra: pip install -e '.[dev]'")
    if not shutil.which(CHROMIUM):
        pytest.fail("Chromium is missing: ./setup.sh installs it (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            page.goto(url)
            page.get_by_text(wait_for).first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
            screenshot.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
            return page.inner_text("body")
        finally:
            browser.close()


def test_example_traces_show_in_the_runs_evaluation_view_and_change_no_metric(tracking, tiny_llama):
    import mlflow
    from mlflow import MlflowClient

    from tests.helpers import evaluate_to_run

    experiment = mlflow.set_experiment("traces")
    plain = evaluate_to_run(str(tiny_llama), ["rewardbench"], run_name="no-traces")
    traced = evaluate_to_run(str(tiny_llama), ["rewardbench"], run_name="with-traces", log_traces=4)
    client = MlflowClient()
    run = client.get_run(traced.run_id)
    assert {k: v for k, v in run.data.metrics.items() if not k.startswith("throughput/")} == {
        k: v for k, v in client.get_run(plain.run_id).data.metrics.items() if not k.startswith("throughput/")}
    traces = mlflow.search_traces(locations=[experiment.experiment_id], run_id=traced.run_id, return_type="list")
    wrong = int((traced.report.benchmarks["rewardbench"].examples["correct"] < 1).sum())
    assert len(traces) == min(4, wrong) + 4 and run.data.tags["rm_mlflow.traces"] == str(len(traces))
    for trace in traces:
        feedback = {a.name: a.value for a in trace.info.assessments}
        assert set(feedback) == {"correct", "margin"} and isinstance(feedback["correct"], bool)
    assert not mlflow.search_traces(locations=[experiment.experiment_id], run_id=plain.run_id, return_type="list")

    shot = REPO_ROOT / "test-output" / "traces.png"
    text = _chromium_page_text(f"{tracking}/#/experiments/{experiment.experiment_id}/runs/{traced.run_id}/traces", shot, "margin")
    assert "correct" in text and "margin" in text and "chosen_scores" in text
    _assert_a_rendered_page(shot)


def test_the_better_versions_model_page_shows_its_rewardbench_metrics(demo):
    from mlflow import MlflowClient

    client = MlflowClient(demo.tracking_uri)
    version = client.get_model_version("rm-demo", demo.better.version)
    model_id = version.model_id or version.source.removeprefix("models:/")
    experiment_id = client.get_logged_model(model_id).experiment_id
    server = MlflowServer(demo.workdir).start()
    try:
        shot = REPO_ROOT / "test-output" / "model-page.png"
        text = _chromium_page_text(f"{server.url}/#/experiments/{experiment_id}/models/{model_id}", shot, "rewardbench/score")
    finally:
        server.stop()
    assert "rewardbench/score" in text and "rewardbench/section/chat" in text
    assert f"{demo.better.metrics['rewardbench/score']:.3f}"[:4] in text
    _assert_a_rendered_page(shot)
