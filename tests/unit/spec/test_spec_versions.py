"""Every dated version of a spec is validated when the spec is loaded (DAG parse), not first at run time."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from featurebench.spec import BENCHMARKS_DIR, SpecError, SpecFile

SPEC = "qwen3-32b-kv-routing"


def _copy_with(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load((BENCHMARKS_DIR / f"{SPEC}.yaml").read_text())
    edit(raw)
    path = tmp_path / f"{SPEC}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_an_old_version_that_breaks_the_spec_fails_loading(tmp_path):
    def break_first_version(raw):
        raw["versions"][0]["overrides"] = {"goodput": {"ttft_ms": -1, "itl_ms": 30}}

    with pytest.raises(SpecError, match=r"after applying version 2026\.07"):
        SpecFile(_copy_with(tmp_path, break_first_version))


def test_latest_is_the_last_version_resolved(tmp_path):
    path = tmp_path / f"{SPEC}.yaml"
    shutil.copy(BENCHMARKS_DIR / f"{SPEC}.yaml", path)
    spec_file = SpecFile(path)
    last = spec_file.spec.versions[-1]
    assert spec_file.latest.version == last
    assert spec_file.latest == spec_file.resolve(last.effective_from)
