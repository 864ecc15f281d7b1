"""The typed spec: every shipped spec is valid, and each typical mistake fails with the file and the field."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml

from featurebench.spec import BENCHMARKS_DIR, SpecError, SpecFile, load_all

BASE = (BENCHMARKS_DIR / "qwen3-32b-kv-routing.yaml").read_text()


def write(tmp_path: Path, text: str, name: str = "qwen3-32b-kv-routing") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def mutate(change) -> str:
    doc = yaml.safe_load(BASE)
    change(doc)
    return yaml.safe_dump(doc, sort_keys=False)


def test_every_shipped_spec_is_valid_and_resolves_each_version():
    specs, errors = load_all()
    assert errors == {} and len(specs) == 6
    for spec_file in specs.values():
        for version in spec_file.spec.versions:
            assert spec_file.resolve(version.effective_from).version == version


@pytest.mark.parametrize("change, field, message", [
    (lambda d: d.update(trials=0), "trials", "greater than 0"),
    (lambda d: d.update(colour="blue"), "colour", "Extra inputs are not permitted"),
    (lambda d: d["arms"][0].update(gpus=12), "arms.0", "gpus is 12 but the workers ask for 16"),
    (lambda d: d["arms"][1].update(role="control"), "(top level)", "exactly one arm must have role: control"),
    (lambda d: d["arms"][0]["deploy"].update(router_mode="fastest"), "arms.0.deploy.router_mode", "Input should be"),
    (lambda d: d["schedule"].update(cron="0 2 * * *"), "schedule.cron", "not a weekly cron"),
    (lambda d: d["comparison"].update(primary_metrics=["ttft_p42"]), "comparison.primary_metrics", "unknown metrics"),
    (lambda d: d["goodput"].update(ttft_ms=-1), "goodput.ttft_ms", "greater than 0"),
    (lambda d: d["versions"].reverse(), "(top level)", "increasing effective_from"),
    (lambda d: d["versions"][0].update(image_tag="1.3; rm -rf /"), "versions.0.image_tag", "pattern"),
])
def test_a_mistake_names_the_file_and_the_field(tmp_path, change, field, message):
    path = write(tmp_path, mutate(change))
    with pytest.raises(SpecError) as err:
        SpecFile(path)
    text = str(err.value)
    assert str(path) in text and f"`{field}`" in text and message in text, text


def test_id_must_match_the_file_name(tmp_path):
    with pytest.raises(SpecError, match=r"field `id` is 'qwen3-32b-kv-routing' but the file is named 'other'"):
        SpecFile(write(tmp_path, BASE, name="other"))


def test_not_yaml_is_a_clear_error(tmp_path):
    with pytest.raises(SpecError, match="not valid YAML"):
        SpecFile(write(tmp_path, "id: [unclosed\n"))


def test_a_version_override_that_breaks_the_spec_is_caught_at_load(tmp_path):
    def bad_override(doc):
        doc["versions"][0]["overrides"] = {"goodput": {"ttft_ms": "soon"}}

    with pytest.raises(SpecError, match=r"(?s)goodput\.ttft_ms.*after applying version 2026\.07"):
        SpecFile(write(tmp_path, mutate(bad_override)))


def test_versions_resolve_by_date(tmp_path):
    spec_file = SpecFile(write(tmp_path, BASE))
    assert spec_file.resolve(dt.date(2026, 8, 20)).version.version == "2026.07"
    assert spec_file.resolve(dt.date(2026, 8, 21)).version.version == "2026.08"
    assert spec_file.resolve(dt.date(2026, 8, 20)).spec.goodput.ttft_ms == 1000
    with pytest.raises(SpecError, match="no version of qwen3-32b-kv-routing was in force on 2026-06-30"):
        spec_file.resolve(dt.date(2026, 6, 30))


def test_load_all_keeps_going_past_a_broken_file(tmp_path):
    write(tmp_path, BASE)
    write(tmp_path, re.sub(r"(?m)^id: .*$", "id: broken", BASE).replace("cron: \"0 2 * * 1\"", "cron: daily"),
          name="broken")
    specs, errors = load_all(tmp_path)
    assert list(specs) == ["qwen3-32b-kv-routing"]
    assert list(errors) == [str(tmp_path / "broken.yaml")] and "schedule.cron" in errors[str(tmp_path / "broken.yaml")]
