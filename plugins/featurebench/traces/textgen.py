"""Deterministic pseudo-words for prompt text (no corpus to download).

Short consonant-vowel syllables, one to three per word: most tokenizers split such a word into one or two
tokens, so N words is roughly N tokens. Exact token counts depend on the model's tokenizer.
"""

from __future__ import annotations

import random

_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def words(r: random.Random, n: int) -> str:
    out = []
    for _ in range(n):
        k = 1 + int(r.random() * 3)
        out.append("".join(_SYLLABLES[int(r.random() * len(_SYLLABLES))] for _ in range(k)))
    return " ".join(out)
