"""The tiny local model the simulated platform serves: a tokenizer, a config and a chat template, no weights.

The Dynamo mocker needs a tokenizer and config.json (it sizes KV bytes per token from it); the frontend needs a
chat template; AIPerf needs the tokenizer in Hugging Face cache layout, because with a plain directory its
trace workers force offline mode and fail (shared/reference/aiperf.md section 6). Everything is generated
deterministically from a fixed seed: nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

NAME = "local/tiny-llm"  # AIPerf --tokenizer; an org/name that cannot exist on the hub
VERSION = "v1"  # bump when the recipe below changes, so stale copies are not reused
REVISION = "0123456789abcdef0123456789abcdef01234567"  # any fixed 40-hex string works as the "commit"
FILES = ("tokenizer.json", "tokenizer_config.json", "config.json", "generation_config.json")

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class TinyModel:
    model_dir: Path  # plain directory: the mocker's --model-path (its string is the served model id on 1.3.1)
    hf_home: Path  # HF_HOME for AIPerf (hub/models--local--tiny-llm/...)
    name: str  # AIPerf --tokenizer

    @property
    def served_id(self) -> str:
        """The model id the Dynamo 1.3.1 frontend lists: the mocker's --model-path string."""
        return str(self.model_dir)


def _write_model(out: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    specials = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    rng = random.Random(0)  # deterministic synthetic corpus
    syll = ["ka", "lo", "mi", "ren", "to", "sa", "vu", "el", "dor", "qui", "an", "bes"]
    words = ["".join(rng.choice(syll) for _ in range(rng.randint(1, 3))) for _ in range(3000)]
    corpus = [" ".join(rng.choice(words) for _ in range(30)) for _ in range(2000)]

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    tok.save(str(out / "tokenizer.json"))
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
        "unk_token": "<unk>", "pad_token": "</s>", "model_max_length": 32768, "add_bos_token": False,
        "chat_template": CHAT_TEMPLATE,  # inside tokenizer_config.json: older loaders find it there
    }, indent=1))
    (out / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": tok.get_vocab_size(),
        "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 64, "max_position_embeddings": 32768, "torch_dtype": "bfloat16",
        "bos_token_id": bos, "eos_token_id": eos,
    }, indent=1))
    (out / "generation_config.json").write_text(json.dumps({"eos_token_id": eos}))


def _layout(base: Path) -> TinyModel:
    return TinyModel(model_dir=base / "model", hf_home=base / "hf", name=NAME)


def ensure_tiny_model(root: Path) -> TinyModel:
    """Create (once) <root>/tiny-llm-<version>/{model, hf}. Safe under concurrent callers: each builds in a
    private temp folder and renames it into place; the loser of the race discards its copy."""
    root = Path(root).resolve()
    base = root / f"tiny-llm-{VERSION}"
    if base.is_dir():  # only ever created by an atomic rename of a complete folder
        return _layout(base)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-llm-", dir=root))
    try:
        model = _layout(tmp)
        model.model_dir.mkdir()
        _write_model(model.model_dir)
        org, name = NAME.split("/")
        repo = model.hf_home / "hub" / f"models--{org}--{name}"
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text(REVISION)
        snapshot = repo / "snapshots" / REVISION
        snapshot.mkdir(parents=True)
        for f in FILES:
            shutil.copy2(model.model_dir / f, snapshot / f)
        try:
            os.rename(tmp, base)
        except OSError:
            if not base.is_dir():  # a real failure, not a lost race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _layout(base)
