"""The tiny local model: deterministic, complete, HF-cache layout for AIPerf, safe under concurrent callers."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from pathlib import Path

import jinja2
from tokenizers import Tokenizer

from featurebench.platforms.modelgen import FILES, NAME, REVISION, TinyModel, ensure_tiny_model


def _digest(folder: Path) -> dict[str, str]:
    return {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in FILES}


def test_model_is_complete_and_loadable(tmp_path):
    model = ensure_tiny_model(tmp_path)
    assert isinstance(model, TinyModel) and model.name == NAME == "local/tiny-llm"
    assert model.served_id == str(model.model_dir)
    for f in FILES:
        assert (model.model_dir / f).is_file(), f
    tok = Tokenizer.from_file(str(model.model_dir / "tokenizer.json"))
    ids = tok.encode("kalo miren tosa").ids
    assert ids and tok.decode(ids) == "kalo miren tosa"
    config = json.loads((model.model_dir / "config.json").read_text())
    assert config["vocab_size"] == tok.get_vocab_size()
    assert config["eos_token_id"] == tok.token_to_id("</s>")
    # the mocker sizes KV bytes per token from these fields
    for key in ("num_hidden_layers", "num_key_value_heads", "head_dim", "torch_dtype"):
        assert key in config
    tc = json.loads((model.model_dir / "tokenizer_config.json").read_text())
    rendered = jinja2.Template(tc["chat_template"]).render(
        messages=[{"role": "user", "content": "hi"}], add_generation_prompt=True
    )
    assert rendered == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_hf_cache_layout_for_aiperf(tmp_path):
    model = ensure_tiny_model(tmp_path)
    repo = model.hf_home / "hub" / "models--local--tiny-llm"
    revision = (repo / "refs" / "main").read_text()
    assert revision == REVISION and len(revision) == 40
    assert _digest(repo / "snapshots" / revision) == _digest(model.model_dir)


def test_deterministic_across_roots(tmp_path):
    a = ensure_tiny_model(tmp_path / "a")
    b = ensure_tiny_model(tmp_path / "b")
    assert _digest(a.model_dir) == _digest(b.model_dir)


def test_idempotent_and_leaves_no_temp(tmp_path):
    first = ensure_tiny_model(tmp_path)
    stamp = (first.model_dir / "tokenizer.json").stat().st_mtime_ns
    second = ensure_tiny_model(tmp_path)
    assert second == first
    assert (second.model_dir / "tokenizer.json").stat().st_mtime_ns == stamp  # not rebuilt
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.model_dir.parent.name]


def _build(root: str) -> str:
    return str(ensure_tiny_model(Path(root)).model_dir)


def test_concurrent_callers(tmp_path):
    ctx = multiprocessing.get_context("spawn")  # separate interpreters, as separate Airflow tasks would be
    with ctx.Pool(4) as pool:
        dirs = pool.map(_build, [str(tmp_path)] * 4)
    assert len(set(dirs)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [Path(dirs[0]).parent.name]  # losers cleaned up
    assert _digest(Path(dirs[0])) == _digest(ensure_tiny_model(tmp_path / "other").model_dir)
