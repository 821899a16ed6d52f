"""`mihwar suggest`: which unlabeled paragraphs (or articles) are worth an annotator's time.

Pure worker: candidates with the model's probabilities and the lexicon's counts in,
an ordered batch out. The priority of a candidate is

    (1 - margin) + DISAGREE_BONUS * [lexicon topic != model label]

where margin is the gap between the model's two best classes, and the lexicon topic is
the topic whose defining terms occur most (none -> the out-of-scope label). The batch
is then spread: round-robin over the model's predicted labels, at most ``per_article``
items of one article, sources taken in turn inside each label. Ties are broken by a
seeded hash of the paragraph, so a seed gives one batch.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

DISAGREE_BONUS = 0.5


@dataclass
class Candidate:
    article_id: str
    index: int  # paragraph index in the article (0 for a whole article)
    text: str
    key: str  # paragraph hash, or article id for whole articles
    source: str = ""
    probs: dict[str, float] = field(default_factory=dict)
    lexicon_hits: dict[str, float] = field(default_factory=dict)
    model_label: str = ""
    margin: float = 1.0
    lexicon_label: str = ""
    priority: float = 0.0
    context: str = ""  # the whole article of a paragraph: the model's scope features read it

    @property
    def disagrees(self) -> bool:
        return self.lexicon_label != self.model_label


def tie_break(key: str, seed: int) -> float:
    """A stable pseudo-random number in [0, 1) for ``key`` under ``seed``."""
    return int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:12], 16) / 16**12


def score_candidates(cands: list[Candidate], probs: np.ndarray, classes: Sequence[str], lexicon_counts: np.ndarray,
                     lexicon_topics: Sequence[str], other_label: str | None,
                     labels: Sequence[str] | None = None) -> list[Candidate]:
    """Fill model label (``labels``, else the top class), margin, lexicon label and priority in place (rows aligned with ``cands``)."""
    for i, (c, p, hits) in enumerate(zip(cands, probs, lexicon_counts)):
        order = np.argsort(-p)
        c.probs = {cls: round(float(x), 4) for cls, x in zip(classes, p)}
        c.model_label = labels[i] if labels is not None else classes[order[0]]
        c.margin = float(p[order[0]] - p[order[1]]) if len(p) > 1 else 1.0
        c.lexicon_hits = {t: round(float(h), 3) for t, h in zip(lexicon_topics, hits)}
        c.lexicon_label = lexicon_topics[int(np.argmax(hits))] if len(hits) and float(np.max(hits)) > 0 else (other_label or "")
        c.priority = (1.0 - c.margin) + (DISAGREE_BONUS if c.disagrees else 0.0)
    return cands


def spread(cands: list[Candidate], limit: int, per_article: int, seed: int) -> list[Candidate]:
    """Round-robin over predicted labels (sources in turn inside each), highest priority first,
    never more than ``per_article`` items of one article."""
    queues: dict[str, dict[str, list[Candidate]]] = defaultdict(lambda: defaultdict(list))
    for c in sorted(cands, key=lambda c: (-c.priority, tie_break(c.key, seed))):
        queues[c.model_label][c.source].append(c)
    label_order = sorted(queues, key=lambda lab: (-queues[lab][next(iter(queues[lab]))][0].priority, lab))
    source_turn = {lab: 0 for lab in queues}
    taken: dict[str, int] = defaultdict(int)
    chosen: list[Candidate] = []
    while len(chosen) < limit:
        progressed = False
        for lab in label_order:
            pick = _next_from(queues[lab], source_turn, lab, taken, per_article)
            if pick is None:
                continue
            chosen.append(pick)
            taken[pick.article_id] += 1
            progressed = True
            if len(chosen) == limit:
                break
        if not progressed:
            break
    return chosen


def _next_from(by_source: dict[str, list[Candidate]], turn: dict[str, int], lab: str, taken: dict[str, int],
               per_article: int) -> Candidate | None:
    sources = sorted(by_source)
    for step in range(len(sources)):
        src = sources[(turn[lab] + step) % len(sources)]
        queue = by_source[src]
        while queue and taken[queue[0].article_id] >= per_article:
            queue.pop(0)
        if queue:
            turn[lab] = (turn[lab] + step + 1) % len(sources)
            return queue.pop(0)
    return None


def choose(cands: list[Candidate], limit: int, seed: int, per_article: int = 3, strategy: str = "suggest") -> list[Candidate]:
    """The batch to annotate: ``suggest`` (priority + spread) or ``random`` (a seeded shuffle)."""
    if strategy == "random":
        return sorted(cands, key=lambda c: tie_break(c.key, seed))[:limit]
    return spread(cands, limit, per_article, seed)


def lexicon_counts(texts: Sequence[str], lexicon: dict[str, list[str]] | None) -> tuple[np.ndarray, list[str]]:
    """Per text, how strongly it uses each topic's terms: log(1 + matches), as the model's lexicon feature."""
    if not lexicon:
        return np.zeros((len(texts), 0)), []
    from predict.features import TermFeatures
    from predict.text import normalize_arabic

    terms = TermFeatures.build(lexicon, None)
    counts = [terms.vector(normalize_arabic(t), None) for t in texts]
    return np.array(counts, dtype=float).reshape(len(texts), len(terms.lexicon)), [t for t, _ in terms.lexicon]


def paragraph_candidates(items: list[tuple[str, int, str]], sources: dict[str, str],
                         articles: dict[str, str] | None = None) -> list[Candidate]:
    """Candidates for (article id, paragraph index, paragraph) triples; ``articles`` maps id -> whole text."""
    from predict.text import paragraph_hash

    articles = articles or {}
    return [Candidate(aid, i, p, paragraph_hash(p), sources.get(aid, ""), context=articles.get(aid, "")) for aid, i, p in items]


def rank(cands: list[Candidate], model, lexicon: dict[str, list[str]] | None, limit: int, seed: int,
         per_article: int = 3, strategy: str = "suggest", whole_articles: bool = False) -> list[Candidate]:
    """Score candidates with ``model`` (a `TopicModel`) and the lexicon, then choose the batch."""
    if not cands:
        return []
    if whole_articles:
        preds = model.predict_articles([c.text for c in cands])
        probs = np.array([[p.scores[k] for k in model.classes] for p in preds])
    else:
        contexts = [c.context or c.text for c in cands]  # a paragraph is read with its article, as in training
        probs = model.paragraph_probs([c.text for c in cands], contexts)
    counts, topics = lexicon_counts([c.text for c in cands], lexicon)
    # a whole article takes the label a user would get (article decision, scope gate), not its top score
    labels = [p.label for p in preds] if whole_articles else None
    score_candidates(cands, probs, model.classes, counts, topics, model.other_label, labels)
    return choose(cands, limit, seed, per_article, strategy)
