"""featurebench.reporting.report: content and order of the report, and the HTML rendered by a headless browser."""

import base64
import re
import shutil
import subprocess

import numpy as np
import pytest

from featurebench.analysis import compare
from featurebench.reporting import report
from featurebench.reporting.arm_setup import Setup, describe
from featurebench.spec import load_spec
from featurebench.testing import simulations


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(1)
    tables = {}
    for point, conc in (("c4", 4), ("c16", 16)):
        for k in range(3):
            tables[("ctl", point, k)] = simulations.synthetic_trial(rng, 400, concurrency=conc)
            tables[("trt", point, k)] = simulations.synthetic_trial(rng, 400, ttft_scale=0.8, concurrency=conc)
    tables[("trt", "c16", 3)] = simulations.synthetic_trial(rng, 400, concurrency=16, client_lag_ms=300.0)
    return compare.compare_arms(tables, "ctl", {"ctl": 2, "trt": 2}, primary_metrics=["ttft_p50", "goodput_rps"])


SETUP = Setup(card=[("Model", "Qwen/Qwen3-32B"), ("Held constant", "model; traffic")], arms=["ctl (control)", "trt (treatment)"],
              descriptions=["round-robin", "KV router"], rows=[("router mode", ["round-robin", "kv"])])


def _render(result, simulated):
    return report.render_report(result, title="KV routing", question="Does KV routing lower TTFT?",
                                simulated=simulated, setup=SETUP, versions={"aiperf": "0.13.0", "trace sha256": "abc123"})


def test_markdown_puts_question_and_verdict_first_and_labels_simulation(result):
    md, _ = _render(result, simulated=True)
    assert md.index("SIMULATION") < md.index("**Question:**") < md.index("## Verdict") < md.index("## Metrics")
    assert "trt vs ctl: better" in md  # TTFT 20% lower is the primary verdict
    for section in ("Pareto frontier", "Load-generator health", "INVALID", "Trace and tool versions", "0.13.0"):
        assert section in md
    # as on Dynamo's benchmark pages: the setup card and the arms side by side right after the verdict
    assert md.index("## Verdict") < md.index("## Benchmark setup") < md.index("## Compared configurations") < md.index("## Metrics")
    assert "| router mode | round-robin | kv |" in md and "[manifests.yaml](manifests.yaml)" in md
    assert "[" in md and "%]" in md  # intervals are printed


def test_html_is_self_contained_and_hardware_runs_are_not_labelled_simulation(result):
    _, page = _render(result, simulated=True)
    assert page.count("data:image/png;base64,") == 3
    assert not re.search(r'src="(?!data:)', page)  # no external resources
    png = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)", page).group(1))
    assert png.startswith(b"\x89PNG")
    assert 'class="banner sim"' in page
    _, hw = _render(result, simulated=False)
    assert "SIMULATION" not in hw and "HARDWARE" in hw


def test_simulated_flag_from_parquet_metadata():
    assert report.simulated_from({"a": {"featurebench.simulated": "true"}, "b": {"featurebench.simulated": "false"}})
    assert report.simulated_from({"a": {"featurebench.simulated": "false"}}) is False
    assert report.simulated_from({}) is None


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian: apt-get install -y chromium)")
def test_html_renders_in_headless_chromium(result, tmp_path):
    from PIL import Image

    _, page = _render(result, simulated=True)
    html_path = tmp_path / "report.html"
    html_path.write_text(page)
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1200,1600",
                    f"--screenshot={shot}", html_path.as_uri()], check=True, capture_output=True, timeout=120)
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert image.shape[0] >= 1000 and image.shape[1] >= 1000
    # the red SIMULATION banner sits at the top of the page
    top = image[: image.shape[0] // 10]
    red = (top[..., 0] > 180) & (top[..., 1] < 60) & (top[..., 2] < 60)
    assert red.mean() > 0.05
    # the rest is a rendered page (text, tables, plots), not blank
    assert image[image.shape[0] // 10:].std() > 20


def test_unmodelled_features_are_called_out_on_simulated_runs_only(result):
    kwargs = dict(title="EC", question="Does the cache help?", unmodelled=["cache-on"])
    md, page = report.render_report(result, simulated=True, **kwargs)
    assert "NOT SIMULATED" in md.split("## Verdict")[0] and "cache-on" in md
    assert 'id="not-simulated"' in page
    md_hw, page_hw = report.render_report(result, simulated=False, **kwargs)
    assert "NOT SIMULATED" not in md_hw and 'id="not-simulated"' not in page_hw


def test_arm_table_shows_what_differs_and_nothing_else():
    spec = load_spec("qwen3-32b-kv-routing").latest.spec
    setup = describe(spec, {"platform": "local", "arms": ["agg-round-robin", "disagg-kv-router"], "trials": 2})
    rows = dict(setup.rows)
    assert rows["router mode"] == ["round-robin", "kv"]
    assert rows["workers x TP"] == ["8 agg x TP2", "6 prefill x TP2 + 2 decode x TP2"]
    assert rows["P/D split"] == ["aggregated", "disaggregated 6P + 2D"]
    assert rows["feature flags (vs control)"][1].split(", ") == [
        "+ --kv-events-config", "+ --kv-transfer-config", "+ --no-enable-prefix-caching"]
    assert rows["local simulation"] == ["4 agg mocker worker(s)", "3 prefill + 1 decode mocker worker(s)"]
    # 16 GPUs each, same runtime, image and load: held constant, so not in the table but on the card
    assert set(rows) == {"router mode", "workers x TP", "P/D split", "feature flags (vs control)", "local simulation"}
    card = dict(setup.card)
    assert card["Model"] == "Qwen/Qwen3-32B" and "16 x H200 (2 nodes)" in card["Hardware"]
    assert "GPUs 16" in card["Held constant"] and "2 trial(s)" in card["Held constant"]
    assert "goodput at TTFT 2000 ms / ITL 25 ms" in card["Metrics"]


def test_arm_table_on_a_four_arm_stack_and_on_env_only_differences():
    kimi = describe(load_spec("kimi-k2-5-feature-stack").latest.spec, {"platform": "kubernetes"})
    flags = dict(kimi.rows)["feature flags (vs control)"]
    assert flags[0] == "(baseline)" and flags[1] == "+ engine_config.speculative_config"
    assert dict(kimi.rows)["concurrency"] == ["8", "24", "24", "32"]
    cache = describe(load_spec("qwen3-vl-embedding-cache").latest.spec, {"platform": "kubernetes"})
    assert cache.rows == [("feature flags (vs control)", ["(baseline)", "~ DYN_MULTIMODAL_EMBEDDING_CACHE_GB=10"])]
