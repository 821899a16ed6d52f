"""The same article under two ids, found so that it is read once.

ANT holds some articles twice under different ids (a story filed in two sections, or
posted again), and a user can `mihwar add` a story the corpus already has. Grouping the
test split and the CV folds by article id alone puts one copy in training and the other in
the test, and the model is scored on text it was fitted on. `train.prepare.drop_copies`
keeps one article of each `duplicate_groups` group, so every split and fold downstream sees
each text once. Two articles are one group when the first `KEY_CHARS` letters and digits of
their texts agree, or of their bodies (the text after its first line): an ANT article is its
title line then its body, a `.txt` copy of it may be the body alone, and a title may differ
by a letter.
"""

from __future__ import annotations

import re
from typing import Sequence

KEY_CHARS = 300  # enough to tell two stories apart; short enough to catch a copy with a changed ending
_NOT_WORD = re.compile(r"[\W_]+")


def opening_key(text: str) -> str:
    """The letters and digits at the start of ``text``, case-folded: equal for copies that differ in spacing or
    punctuation, or after the opening. (`train.corpus_add.content_key`, which `mihwar add` refuses by, is a hash
    of the whole normalized text: an exact copy.)"""
    return _NOT_WORD.sub("", text.casefold())[:KEY_CHARS]


def text_keys(text: str) -> set[str]:
    """The keys an article is matched by: its whole text's and its body's (after the first line); none when empty."""
    return {k for k in (opening_key(text), opening_key(text.split("\n", 1)[-1])) if k}


def duplicate_groups(article_ids: Sequence[str], texts: Sequence[str], rank: Sequence[int] | None = None) -> list[str]:
    """For each position, the article kept for its group: the lowest ``rank`` (default 0), then the smallest id.

    ``article_ids`` may repeat (one row per paragraph, ``texts`` the whole article's). Articles
    sharing any of their `text_keys` are one group, and so are chains of them. An empty text
    is its own group.
    """
    rank = rank if rank is not None else [0] * len(article_ids)
    parent: dict[str, str] = {}

    def root(a: str) -> str:
        while parent.setdefault(a, a) != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    best = {a: (r, a) for a, r in zip(article_ids, rank)}
    owner: dict[str, str] = {}
    for a, t in zip(article_ids, texts):
        for k in text_keys(t):
            ra, rb = root(a), root(owner.setdefault(k, a))
            if ra != rb:
                keep, other = (ra, rb) if min(best[ra], best[rb]) == best[ra] else (rb, ra)
                parent[other] = keep
                best[keep] = min(best[ra], best[rb])
    return [best[root(a)][1] for a in article_ids]
