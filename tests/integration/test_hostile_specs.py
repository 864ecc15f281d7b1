"""Hostile and careless spec files: each one is refused with its own name, and never costs another DAG.

Reproduced the way a user hits them: a file dropped into the benchmarks folder, then the real DAG file parsed
by Airflow's DagBag, and `featurebench list`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
import yaml
from test_dags import _dagbag

from featurebench.spec import BENCHMARKS_DIR, MAX_TRIALS, SpecError, SpecFile

BASE = (BENCHMARKS_DIR / "qwen3-32b-kv-routing.yaml").read_text()


def _as(benchmark_id: str, text: str = BASE) -> str:
    return text.replace("id: qwen3-32b-kv-routing", f"id: {benchmark_id}")


# file name -> bytes; every one of these must become its own placeholder, nothing else changes
HOSTILE = {
    "latin1-bench.yaml": _as("latin1-bench").replace("Qwen3", "Qw\xe9n3").encode("latin-1"),
    "bad-cron.yaml": re.sub(r'cron: "[^"]*"', 'cron: "99 25 * * 9"', _as("bad-cron")).encode(),
    "featurebench_janitor.yaml": b"id: [unclosed\n",
    "dup-keys.yaml": (_as("dup-keys") + "trials: 3\n").encode(),
    "forgot-extension.yml": _as("forgot-extension").encode(),
}


@pytest.fixture
def hostile_folder(tmp_path):
    for path in BENCHMARKS_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    for name, data in HOSTILE.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


def test_one_bad_file_never_removes_another_dag(hostile_folder, monkeypatch):
    good = sorted(p.stem for p in BENCHMARKS_DIR.glob("*.yaml"))
    bag = _dagbag(hostile_folder, monkeypatch)
    assert bag.import_errors == {}
    assert set(good) <= set(bag.dag_ids)
    assert set(bag.dags["featurebench_janitor"].tags) == {"featurebench", "janitor"}, "the janitor keeps its id"
    placeholders = {d.dag_id: d.doc_md for d in bag.dags.values() if "broken-spec" in d.tags}
    assert set(placeholders) == {"latin1-bench", "bad-cron", "featurebench_janitor-broken-spec", "dup-keys",
                                 "forgot-extension.yml"}
    assert "latin1-bench.yaml: not UTF-8" in placeholders["latin1-bench"]
    assert "schedule.cron" in placeholders["bad-cron"] and "99 25 * * 9" in placeholders["bad-cron"]
    assert "key 'trials' appears twice" in placeholders["dup-keys"]
    assert "rename it to forgot-extension.yaml" in placeholders["forgot-extension.yml"]


def test_list_names_every_broken_file_and_still_lists_the_good_ones(hostile_folder):
    out = subprocess.run([sys.executable, "-m", "featurebench", "list"], capture_output=True, text=True,
                         env={**__import__("os").environ, "FEATUREBENCH_BENCHMARKS_DIR": str(hostile_folder)})
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    for name in HOSTILE:
        assert f"BROKEN {hostile_folder / name}" in out.stderr
    assert "qwen3-32b-kv-routing\n" in out.stdout


def _load(tmp_path, change) -> SpecFile:
    doc = yaml.safe_load(BASE)
    change(doc)
    path = tmp_path / "qwen3-32b-kv-routing.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return SpecFile(path)


def _set(path: str, value):
    def change(doc):
        *parents, last = path.split(".")
        node = doc
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        node[last] = value
    return change


@pytest.mark.parametrize("path, value, message", [
    ("arms.0.concurrency", [0, -1], "concurrency levels must be positive"),
    ("arms.0.concurrency", [8, 8], "concurrency levels repeat"),
    ("load.concurrency_per_gpu", -1, "greater than 0"),
    ("trials", 100_000_000, f"less than or equal to {MAX_TRIALS}"),
    ("local.trials", 5000, f"less than or equal to {MAX_TRIALS}"),
    ("schedule.cron", "99 25 * * 9", "not a weekly cron"),
    ("comparison.failed_request_threshold", 1.5, "less than or equal to 1"),
])
def test_a_value_that_would_fail_later_is_refused_at_load(tmp_path, path, value, message):
    with pytest.raises(SpecError) as err:
        _load(tmp_path, _set(path, value))
    assert "qwen3-32b-kv-routing.yaml" in str(err.value) and message in str(err.value)


def test_a_trailing_newline_never_passes_a_pattern(tmp_path):
    def newline_tag(doc):
        doc["versions"][0]["image_tag"] += "\n"
    with pytest.raises(SpecError, match="versions.0.image_tag"):
        _load(tmp_path, newline_tag)
    with pytest.raises(SpecError, match="id"):
        _load(tmp_path, _set("id", "qwen3-32b-kv-routing\n"))
