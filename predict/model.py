"""The topic model as labeling sees it: paragraph scores -> calibrated article topic.

A `TopicModel` wraps any scorer that turns paragraphs into raw class scores
(logits): the scikit-learn pipeline or a fine-tuned transformer. Calibration
(temperature), abstention (threshold) and article-level aggregation are the
same for every backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np

from predict.text import paragraphs_or_whole, word_count


class Scorer(Protocol):
    """Anything that maps paragraphs (with their whole articles as context) to one raw score (logit) per class."""

    classes: list[str]

    def logits(self, paragraphs: Sequence[str], contexts: Sequence[str] | None = None) -> np.ndarray: ...


@dataclass
class ParagraphPrediction:
    index: int
    text: str
    label: str
    confidence: float
    scores: dict[str, float]


@dataclass
class ArticlePrediction:
    label: str
    confidence: float
    scores: dict[str, float]
    paragraphs: list[ParagraphPrediction] = field(default_factory=list)
    explanation: list[dict[str, Any]] | None = None


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature``."""
    z = np.asarray(logits, dtype=float) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def paragraph_weights(paragraphs: Sequence[str]) -> np.ndarray:
    """Weight of each paragraph in its article: its word count, so a caption weighs little."""
    return np.array([max(word_count(p), 1) for p in paragraphs], dtype=float)


def aggregate_article(probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Article scores: the weighted mean of its paragraphs' probabilities."""
    return (probs * weights[:, None]).sum(axis=0) / weights.sum()


def decide(scores: np.ndarray, classes: list[str], other_label: str | None, threshold: float) -> tuple[str, float]:
    """Best class, or ``other_label`` when the best topic's score is under ``threshold``.

    A model trained without an out-of-scope class (``other_label`` None) never abstains.
    """
    best = int(np.argmax(scores))
    label, confidence = classes[best], float(scores[best])
    if other_label and label != other_label and confidence < threshold:
        return other_label, confidence
    return label, confidence


DEFAULT_MIN_TOPIC_SHARE = 0.3


def article_confidence(share: float, kind: str, calibration: dict[str, list[float]] | None) -> float:
    """Probability that an article's label is right, from the label's share of the article.

    The map is a logistic curve on the logit of that share, fitted on held-out articles
    (grouped CV), one curve for ``kind`` "topic" labels and one for "other". Without a
    fitted curve the share itself is returned.
    """
    share = min(max(float(share), 1e-6), 1 - 1e-6)  # np.clip's value; np.clip on one number costs 5 µs
    if not calibration or kind not in calibration:
        return share
    a, b = calibration[kind]
    return float(1.0 / (1.0 + np.exp(-(a * np.log(share / (1 - share)) + b))))


def decide_article(probs: np.ndarray, weights: np.ndarray, classes: list[str], other_label: str | None, threshold: float,
                   min_topic_share: float = DEFAULT_MIN_TOPIC_SHARE) -> str:
    """An article's label from its paragraphs' probabilities (rows) and weights (word counts).

    Each paragraph is decided first (`decide`). The article is about a topic when the
    paragraphs decided as topics hold at least ``min_topic_share`` of its words, however
    much background surrounds them; its label is then the topic with the most words.
    This is the rule that turns gold paragraph labels into an article's gold label
    (`train.article_level.gold_article_label`), applied to the model's decisions. A model
    without an out-of-scope class takes the class with the largest share of the article.
    """
    if not other_label or other_label not in classes or not len(probs):
        return classes[int(np.argmax(aggregate_article(probs, weights)))] if len(probs) else (other_label or classes[0])
    words: dict[str, float] = {}
    for row, w in zip(probs, weights):
        label = decide(row, classes, other_label, threshold)[0]
        if label != other_label:
            words[label] = words.get(label, 0.0) + float(w)
    if not words or sum(words.values()) / float(np.sum(weights)) < min_topic_share:
        return other_label
    return max(words, key=words.get)


# From this many articles a batch is decided in one NumPy pass; a smaller one (a server request) article by
# article, which costs less there (one 8-paragraph article: 36 µs against 155 µs). Both give the same results.
BATCH_PASS_FROM = 16


def decide_articles(probs: np.ndarray, weights: np.ndarray, starts: np.ndarray, classes: list[str], other_label: str | None,
                    threshold: float, min_topic_share: float = DEFAULT_MIN_TOPIC_SHARE) -> list[str]:
    """`decide_article` for a batch at once: article ``i`` holds rows ``starts[i]:starts[i + 1]``.

    The same labels, ties included (the topic whose first paragraph comes first wins, as `max` over
    `decide_article`'s dict does); ``weights`` are word counts, so every sum is exact in any order.
    """
    n_articles = len(starts) - 1
    if not other_label or other_label not in classes or not len(probs) or n_articles < BATCH_PASS_FROM:
        return [decide_article(probs[a:b], weights[a:b], classes, other_label, threshold, min_topic_share)
                for a, b in zip(starts[:-1], starts[1:])]
    article = np.repeat(np.arange(n_articles), np.diff(starts))
    best = probs.argmax(axis=1)
    topic = (best != classes.index(other_label)) & ~(probs[np.arange(len(best)), best] < threshold)
    where = (article[topic], best[topic])
    words = np.zeros((n_articles, len(classes)))
    np.add.at(words, where, weights[topic])
    first = np.full((n_articles, len(classes)), len(best))
    np.minimum.at(first, where, np.flatnonzero(topic))
    present = first < len(best)
    total = np.bincount(article, weights=weights, minlength=n_articles)
    with np.errstate(invalid="ignore", divide="ignore"):
        about_topic = present.any(axis=1) & ~(words.sum(axis=1) / total < min_topic_share)
    tied = present & (words == words.max(axis=1, keepdims=True))
    pick = np.where(tied, first, len(best) + 1).argmin(axis=1)
    return [classes[k] if ok else other_label for k, ok in zip(pick.tolist(), about_topic.tolist())]


def aggregate_articles(probs: np.ndarray, weights: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """`aggregate_article` of each article of a batch (rows ``starts[i]:starts[i + 1]``); NaN for an empty one.

    Rows are added in the order `aggregate_article`'s sum adds them (one position of every article at a time),
    so the scores are the same to the last bit."""
    sizes = np.diff(starts)
    if len(sizes) < BATCH_PASS_FROM or 2 * sizes.max() >= len(sizes):  # one pass per position would cost more
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.array([aggregate_article(probs[a:b], weights[a:b]) for a, b in zip(starts[:-1], starts[1:])]
                            ).reshape(len(sizes), probs.shape[1])
    weighted = probs * weights[:, None]
    total = np.zeros((len(sizes), probs.shape[1]))
    mass = np.zeros(len(sizes))
    for k in range(int(sizes.max()) if len(sizes) else 0):
        has = sizes > k
        rows = starts[:-1][has] + k
        total[has] += weighted[rows]
        mass[has] += weights[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / mass[:, None]


def in_scope_probability(gate: Scorer, texts: Sequence[str], in_scope_class: str) -> np.ndarray:
    """The scope gate's P(in scope) of each whole article."""
    if not len(texts):
        return np.zeros(0)
    return softmax(gate.logits(list(texts)))[:, gate.classes.index(in_scope_class)]


def gate_label(label: str, in_scope: float, topics: Sequence[str], threshold: float, other_label: str | None) -> str:
    """The scope gate's veto: a gated topic whose article scores under ``threshold`` as in scope becomes ``other_label``."""
    if other_label and label in topics and in_scope < threshold:
        return other_label
    return label


class TopicModel:
    """A scorer plus the calibration, abstention, aggregation and scope gate that make it a classifier.

    ``gate`` (optional) scores whole articles as in scope of the Syria file or not
    (`train.gate`); ``meta["scope_gate"]`` names the topics it may veto and its threshold.
    """

    def __init__(self, scorer: Scorer, meta: dict[str, Any], gate: Scorer | None = None):
        self.scorer = scorer
        self.gate = gate if gate is not None and meta.get("scope_gate") else None
        self.meta = meta
        self.classes: list[str] = list(meta["classes"])
        self.other_label: str | None = meta["other_label"]
        self.temperature: float = float(meta.get("temperature", 1.0))
        self.threshold: float = float(meta.get("threshold", 0.0))
        self.min_topic_share: float = float(meta.get("min_topic_share", DEFAULT_MIN_TOPIC_SHARE))
        self.uri: str | None = None  # set by load_model: what the user named

    @property
    def identity(self) -> str:
        """What names this model version in outputs and journals: its content-derived ``model_id``."""
        if self.meta.get("model_id"):
            return str(self.meta["model_id"])
        import hashlib
        import json

        return hashlib.sha256(json.dumps(self.meta, sort_keys=True, default=str).encode()).hexdigest()[:16]

    @property
    def topics(self) -> list[str]:
        return [c for c in self.classes if c != self.other_label]

    def paragraph_probs(self, paragraphs: Sequence[str], contexts: Sequence[str] | None = None) -> np.ndarray:
        """Calibrated class probabilities for each paragraph; ``contexts`` are their whole articles."""
        if not paragraphs:
            return np.zeros((0, len(self.classes)))
        return softmax(self.scorer.logits(list(paragraphs), None if contexts is None else list(contexts)), self.temperature)

    def predict_articles(self, texts: Sequence[str], paragraphs: bool = False, explain: int = 0) -> list[ArticlePrediction]:
        """Label whole articles; every paragraph of the batch is scored in one call, and the articles decided together."""
        segmented = [paragraphs_or_whole(t) for t in texts]
        flat = [p for ps in segmented for p in ps]
        contexts = [t for t, ps in zip(texts, segmented) for _ in ps]
        probs = self.paragraph_probs(flat, contexts)
        starts = np.concatenate([[0], np.cumsum([len(ps) for ps in segmented], dtype=np.int64)]).astype(np.int64)
        weights = paragraph_weights(flat)
        labels = decide_articles(probs, weights, starts, self.classes, self.other_label, self.threshold,
                                 self.min_topic_share)
        scores = aggregate_articles(probs, weights, starts)
        in_scope = self.scope_probabilities(texts, labels)
        return [self._article(text, ps, probs[a:b], row, label, gate, paragraphs, explain)
                for text, ps, a, b, row, label, gate in zip(texts, segmented, starts[:-1], starts[1:], scores, labels, in_scope)]

    def start_compiled(self) -> None:
        """Start each scorer's compiled loop now (`predict.linear.LinearScorer.start_compiled`), where it has one.

        For the server before it listens, and for a batch big enough to pay for it (0.7 s to start; the NumPy
        path costs about 0.4 ms more per paragraph), so no request and no early chunk takes the slow path."""
        for scorer in (self.scorer, self.gate):
            if hasattr(scorer, "start_compiled"):
                scorer.start_compiled()

    def scope_probabilities(self, texts: Sequence[str], labels: Sequence[str]) -> list[float | None]:
        """The gate's P(in scope) of each article the gate may veto (its label is a gated topic); None for the others."""
        out: list[float | None] = [None] * len(texts)
        if self.gate is None:
            return out
        topics = self.meta["scope_gate"]["topics"]
        idx = [i for i, label in enumerate(labels) if label in topics]
        probs = in_scope_probability(self.gate, [texts[i] for i in idx], self.meta["scope_gate"]["in_scope"])
        for i, p in zip(idx, probs):
            out[i] = float(p)
        return out

    def _article(self, text: str, ps: list[str], probs: np.ndarray, scores: np.ndarray, label: str, in_scope: float | None,
                 with_paragraphs: bool, explain: int) -> ArticlePrediction:
        gate = self.meta.get("scope_gate") or {}
        if in_scope is not None:
            label = gate_label(label, in_scope, gate["topics"], gate["threshold"], self.other_label)
        confidence = self.article_confidence(scores, label)
        prediction = ArticlePrediction(label, round(confidence, 4), self._score_dict(scores))
        if with_paragraphs:
            for i, (p, row) in enumerate(zip(ps, probs)):
                p_label, p_conf = decide(row, self.classes, self.other_label, self.threshold)
                prediction.paragraphs.append(ParagraphPrediction(i, p, p_label, round(p_conf, 4), self._score_dict(row)))
        if explain and hasattr(self.scorer, "explain"):
            target = label if label in self.classes else self.classes[int(np.argmax(scores))]
            prediction.explanation = self.scorer.explain(text, target, explain)
            if in_scope is not None:
                prediction.explanation.insert(0, {"feature": "scope_gate", "in_scope": round(in_scope, 4),
                                                  "threshold": gate["threshold"], "vetoed": label == self.other_label})
        return prediction

    def article_confidence(self, scores: np.ndarray, label: str) -> float:
        """Calibrated probability that ``label`` is right for an article with these ``scores``."""
        kind = "other" if label == self.other_label else "topic"
        return article_confidence(float(scores[self.classes.index(label)]), kind, self.meta.get("article_calibration"))

    def _score_dict(self, row: np.ndarray) -> dict[str, float]:
        return {c: round(s, 4) for c, s in zip(self.classes, row.tolist())}
