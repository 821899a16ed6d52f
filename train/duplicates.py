"""The same article under two ids, found so that it is read once.

ANT holds some articles twice under different ids (a story filed in two sections, or
posted again). Grouping the test split and the CV folds by article id alone puts one copy
in training and the other in the test, and the model is scored on text it was fitted on.
`train.prepare.drop_copies` keeps one article of each `duplicate_groups` group, so every
split and fold downstream sees each text once: articles whose first `KEY_CHARS` letters
and digits agree are one group, named by its smallest article id.
"""

from __future__ import annotations

import re
from typing import Sequence

KEY_CHARS = 300  # enough to tell two stories apart; short enough to catch a copy with a changed ending
_NOT_WORD = re.compile(r"[\W_]+")


def content_key(text: str) -> str:
    """The letters and digits at the start of ``text``, case-folded: equal for copies that differ in spacing or punctuation."""
    return _NOT_WORD.sub("", text.casefold())[:KEY_CHARS]


def duplicate_groups(article_ids: Sequence[str], texts: Sequence[str]) -> list[str]:
    """For each position, the smallest article id whose text has the same `content_key`.

    ``article_ids`` may repeat (one row per paragraph, ``texts`` the whole article's).
    An empty text is its own group.
    """
    keys = [content_key(t) or f"\0{a}" for a, t in zip(article_ids, texts)]
    first: dict[str, str] = {}
    for a, k in zip(article_ids, keys):
        if k not in first or a < first[k]:
            first[k] = a
    return [first[k] for k in keys]
