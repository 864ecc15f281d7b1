"""The Airflow UI as a person uses it, in a real browser: Playwright drives Debian's chromium against a real
Airflow (api-server, scheduler, dag-processor, triggerer on loopback; featurebench.airflow_local).

The path: sign in; open a benchmark DAG and read its doc; open Trigger and see the form's fields with their
titles, descriptions and defaults; a bad value shows its error before any task runs; set trials and load
points and trigger; wait for success; open the "Benchmark report" link of the report task and read the
verdict. Screenshots of each step go to .work/ui-test/ (CI keeps them as artifacts).

Playwright's own browser download is impossible here, so it launches /usr/bin/chromium.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from featurebench.cli.airflow_local import USER, LocalAirflow, free_port, import_gpu_pools, loopback_env, password_file
from featurebench.settings import REPO_ROOT

playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed (requirements.txt)")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="chromium not installed (scripts/setup.sh: apt-get install -y chromium)")

BENCH = "qwen3-32b-kv-routing"
SHOTS = REPO_ROOT / ".work" / "ui-test"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
RUN_DEADLINE_S = 15 * 60


@pytest.fixture(scope="module")
def airflow(tmp_path_factory, migrated_airflow_db):
    tmp = tmp_path_factory.mktemp("ui-browser")
    port = free_port()
    env = loopback_env({
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")},
        "AIRFLOW_HOME": str(tmp / "airflow"), "FEATUREBENCH_WORK": str(tmp / "work"),
        "FEATUREBENCH_RESULTS": str(tmp / "results"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"), "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the run this test triggers
        "FEATUREBENCH_PREFLIGHT": "off",  # covered by test_e2e_local and test_e2e_kubernetes; the task shows as run
        "PYTHONPATH": str(REPO_ROOT / "plugins"),
    }, port)
    migrated_airflow_db.seed(env["AIRFLOW_HOME"])
    import_gpu_pools(env, tmp)
    secret = json.loads(password_file(env).read_text())[USER]
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    with LocalAirflow(env, port, tmp / "logs") as af:
        af.wait_for_dag(BENCH)
        yield af, secret


@pytest.fixture(scope="module")
def page(airflow, tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")  # empty user-data-dir
    with playwright.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        context.set_default_timeout(60_000)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_person_triggers_a_benchmark_and_reads_its_report(airflow, page):
    af, secret = airflow
    started = time.monotonic()
    expect = playwright.expect
    expect.set_options(timeout=60_000)  # a loaded 2-core machine renders slowly; a missing element still fails

    # 1. sign in
    page.goto(af.base_url + "/")
    page.get_by_label(re.compile("username", re.I)).fill(USER)
    page.get_by_label(re.compile("password", re.I)).fill(secret)
    shot(page, "01-sign-in")
    page.get_by_role("button", name=re.compile("sign in|login|log in", re.I)).click()
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()  # the home page, signed in

    # 2. the benchmark's DAG and its doc
    page.goto(f"{af.base_url}/dags/{BENCH}")
    page.get_by_role("button", name="Dag Docs").click()
    doc = page.get_by_role("dialog")
    expect(doc).to_contain_text("Question.")
    expect(doc).to_contain_text("disagg-kv-router")
    shot(page, "02-dag-doc")
    page.keyboard.press("Escape")
    expect(doc).to_be_hidden()

    # 3. the trigger form: titles, descriptions, defaults (sections open one at a time)
    page.get_by_role("button", name="Trigger Dag").click()
    form = page.get_by_role("dialog")
    expect(form.get_by_role("combobox", name="Platform")).to_be_visible()
    expect(form).to_contain_text("local: Dynamo mocker + AIPerf on this machine (simulation)")
    expect(form.get_by_role("group").filter(has_text="Platform").first).to_contain_text("local")  # default
    expect(form.get_by_role("group").filter(has_text="GPU type").first).to_contain_text("H200")  # default
    expect(form.get_by_role("checkbox", name="Dry run")).not_to_be_checked()
    _open(form, "Configuration")
    expect(form).to_contain_text("Image tag override")
    expect(form).to_contain_text("Empty: the tag of the spec version in force on the run's date")
    _open(form, "What to run")
    arms = form.get_by_role("group").filter(has_text="Arms to run").first
    expect(arms).to_contain_text("agg-round-robin")  # default: every arm
    expect(arms).to_contain_text("disagg-kv-router")
    expect(form).to_contain_text("The control (agg-round-robin) and at least one treatment.")
    expect(form).to_contain_text("Load points")
    expect(form).to_contain_text("'replay' replays the trace on its schedule")
    trials = form.get_by_role("spinbutton", name="Trials")
    expect(trials).to_have_value("")  # default: the spec's
    expect(form).to_contain_text("Repetitions per load point")
    shot(page, "03-trigger-form")

    # 4. a bad value shows its error before anything runs
    points = form.get_by_role("textbox", name="Enter each string on a new line")
    points.fill("fast")
    form.get_by_role("button", name="Trigger", exact=True).click()
    error = form.get_by_text(re.compile("Invalid input for param load_points: 'fast' does not match"))
    expect(error).to_be_visible()
    error.scroll_into_view_if_needed()
    shot(page, "04-bad-value")
    assert not af.get(f"/api/v2/dags/{BENCH}/dagRuns")["dag_runs"], "the bad value started a run"

    # 5. a small run: one trial of the trace replayed at twice its speed
    page.mouse.move(5, 5)  # off the error toast (hovering keeps it open): it covers the Trigger button
    expect(page.get_by_text("Failed to Trigger Dag")).to_be_hidden()
    points.fill("replay-x2")
    trials.fill("1")
    shot(page, "05-trigger-filled")
    form.get_by_role("button", name="Trigger", exact=True).click()
    runs = _wait(lambda: af.get(f"/api/v2/dags/{BENCH}/dagRuns")["dag_runs"], 120, "the triggered run")
    (run,) = runs
    assert run["conf"]["trials"] == 1 and run["conf"]["load_points"] == ["replay-x2"], run["conf"]

    see_the_run_and_its_report(af, page, run["dag_run_id"])
    print(f"\nbrowser test: {time.monotonic() - started:.0f}s; screenshots in {SHOTS}")


def see_the_run_and_its_report(af, page, run_id: str) -> None:
    expect = playwright.expect
    # 6. wait for success, and see it
    state = _wait(lambda: _finished(af, run_id), RUN_DEADLINE_S, "the run to finish")
    page.goto(f"{af.base_url}/dags/{BENCH}/runs/{run_id}")
    expect(page.get_by_text(re.compile(r"^\s*success\s*$", re.I)).filter(visible=True).first).to_be_visible()
    shot(page, "06-run-finished")
    assert state == "success", _task_states(af, run_id)

    # 7. the report task's "Benchmark report" link, and the verdict on the page it opens
    page.goto(f"{af.base_url}/dags/{BENCH}/runs/{run_id}/tasks/report")
    page.get_by_role("link", name="Details", exact=True).click()  # Airflow 3 lists a task's extra links there
    link = page.get_by_role("link", name="Benchmark report", exact=True)
    expect(link).to_be_visible()
    shot(page, "07-report-task")
    if link.get_attribute("target") == "_blank":
        with page.context.expect_page() as opened:
            link.click()
        report = opened.value
    else:
        link.click()
        report = page
    report.wait_for_load_state()
    expect(report.get_by_role("heading", name="Verdict")).to_be_visible()
    expect(report.locator("p.verdict").first).to_contain_text("disagg-kv-router vs agg-round-robin")
    expect(report.locator("#arms")).to_contain_text("router mode")
    report.screenshot(path=str(SHOTS / "08-report.png"), full_page=False)
    # a local run deploys processes and renders no manifests, so its report offers no manifests link (a
    # Kubernetes or dry run stores manifests.yaml; the link itself: tests/integration/test_report.py)
    expect(report.get_by_role("link", name=re.compile("Full manifests"))).to_have_count(0)


def _open(form, section: str) -> None:
    """Open a section of the form (an accordion: opening one closes the others)."""
    button = form.get_by_role("button", name=section, exact=True)
    if button.get_attribute("aria-expanded") != "true":
        button.click()
    playwright.expect(button).to_have_attribute("aria-expanded", "true")


def _wait(probe, timeout: float, what: str):
    end = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except TimeoutError:  # the API server is slow to answer on a loaded machine: ask again
            value = None
        if value:
            return value
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(3)


def _finished(af, run_id: str) -> str | None:
    state = af.get(f"/api/v2/dags/{BENCH}/dagRuns/{run_id}")["state"]
    return state if state in ("success", "failed") else None


def _task_states(af, run_id: str) -> list[tuple[str, str]]:
    listing = af.get(f"/api/v2/dags/{BENCH}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
    return [(t["task_id"], t["state"]) for t in listing]
