"""The scope gate: an article-level check that a topic decision belongs to the Syria file.

The paragraph model sees a paragraph (plus gazetteer counts of its article). Its most
common out-of-scope error is Syrian war news (a strike, an evacuation, a siege) given
`counter_isis` or `diplomacy` because a paragraph quotes a minister or names Daesh.
The gate reads the whole article once: word and character n-gram TF-IDF with a logistic
regression, fitted on training articles, in scope (any topic) against `other`.

It only vetoes: an article whose topic is one of the *gated* topics and whose gate
probability is under the threshold becomes `other`. A topic is gated only when the
training data hold at least ``min_articles`` articles of it; with fewer (drugs and
sanctions have a handful of seed articles) the gate would learn the well-covered topics'
vocabulary as "in scope" and veto the rest. The threshold is chosen on out-of-fold
articles (`choose_gate`), like the paragraph threshold.

Pure workers: rows in, scorer and numbers out. The decision rule itself lives in
`predict.model.gate_label`, shared with labeling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from predict.linear import LinearScorer
from predict.model import gate_label, in_scope_probability
from train.config import Config, LinearModelConfig
from train.parallel import map_folds

IN_SCOPE = "in_scope"
MIN_SIDE = 5  # articles needed on each side (in scope, other) to fit a gate and hold some out
GATE_THRESHOLDS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]  # 0.0 = no veto
GATE_BOOTSTRAP = 200  # article resamples for the standard error of the best threshold's score (`choose_gate`)


def gated_topics(gold: Sequence[str], topics: Sequence[str], min_articles: int) -> list[str]:
    """The topics with at least ``min_articles`` training articles: the ones the gate can judge."""
    return [t for t in topics if sum(g == t for g in gold) >= min_articles]


def fit_gate(texts: Sequence[str], in_scope: Sequence[bool], config: Config) -> LinearScorer:
    """The gate fitted on whole articles (the same n-gram features as the paragraph model, no term features)."""
    from train.linear import build_pipeline, export_scorer

    gate = config.scope_gate
    model = LinearModelConfig(C_grid=[gate.C], class_weight="balanced", solver="newton-cg")
    units = [(t, t) for t in texts]
    labels = [IN_SCOPE if s else config.data.other_label for s in in_scope]
    pipeline = build_pipeline(config.features, model, gate.C, config.seed).fit(units, labels)
    return export_scorer(pipeline, None)


def gate_probability(gate: LinearScorer, texts: Sequence[str]) -> np.ndarray:
    """P(in scope) of each article, as labeling computes it."""
    return in_scope_probability(gate, texts, IN_SCOPE)


def gate_fold(train_texts: list[str], train_in_scope: np.ndarray, test_texts: list[str], config: Config) -> np.ndarray:
    """P(in scope) of ``test_texts`` from a gate fitted on the training articles of one fold."""
    return gate_probability(fit_gate(train_texts, train_in_scope, config), test_texts)


def gate_oof(texts: Sequence[str], in_scope: Sequence[bool], config: Config, jobs: int | None = 1,
             paragraphs: Sequence[tuple[int, str]] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold P(in scope) per repeat, (n_repeats, n_articles): each article scored by a gate not fitted on it;
    and, for ``paragraphs`` ((article index, text) pairs), each paragraph scored alone by the gate that held out
    its article, (n_repeats, n_paragraphs): an excerpt meets the gate as a text of its own.

    The folds run on up to ``jobs`` processes (`train.parallel`); the result does not depend on it.
    """
    from sklearn.model_selection import StratifiedKFold

    ev, y = config.evaluation, np.asarray(in_scope)
    out, alone = np.zeros((ev.n_repeats, len(texts))), np.zeros((ev.n_repeats, len(paragraphs)))
    owner = np.array([a for a, _ in paragraphs], dtype=np.int64)
    folds = []
    for r in range(ev.n_repeats):
        splitter = StratifiedKFold(n_splits=min(ev.n_splits, int(y.sum()), int((~y).sum())), shuffle=True, random_state=config.seed + r)
        folds += [(r, tr, te, np.flatnonzero(np.isin(owner, te))) for tr, te in splitter.split(np.zeros(len(y)), y)]
    tasks = [([texts[i] for i in tr], y[tr], [texts[i] for i in te] + [paragraphs[j][1] for j in held], config)
             for _, tr, te, held in folds]
    for (r, _, te, held), probs in zip(folds, map_folds(gate_fold, tasks, jobs)):
        out[r, te], alone[r, held] = probs[:len(te)], probs[len(te):]
    return out, alone


@dataclass
class Excerpts:
    """Each training paragraph as an excerpt of its own, per repeat: its decision without the gate (``pred``,
    labels), its gate P(in scope) scored alone (``gate``), its gold label, and the article it belongs to (the
    index in ``decided``), so a resample of articles takes their paragraphs along."""

    pred: list[list[str]]
    gate: np.ndarray
    gold: list[str]
    article: list[int]


def choose_gate(decided: list[list[dict[str, Any]]], oof: np.ndarray, topics: list[str], classes: list[str],
                other: str, seed: int = 0, excerpts: Excerpts | None = None) -> tuple[float, float]:
    """The gate threshold chosen on out-of-fold articles, and its score (mean over repeats).

    ``decided`` holds, per repeat, the article decisions without the gate (`article_decisions`)
    in the order of ``oof``'s columns. The score is the article macro-F1, or with ``excerpts`` the
    mean of it and the excerpt macro-F1: the gate acts on whatever text it is given, and one
    threshold serves both (as the paragraph threshold, `train.article_level.criterion_tables`).
    The rule: the strictest threshold whose score is below the best one's by at most one
    standard error of that difference (paired: the same `GATE_BOOTSTRAP` resamples of the
    articles, with their paragraphs, for both; so the drugs and sanctions articles, which the
    gate never touches and which make the five-class figure jumpy, do not count as a difference).
    A topic given to an out-of-scope article costs an analyst's trust in the whole column, so
    between thresholds the data cannot tell apart, the stricter is taken.
    """
    k = len(classes)
    index = {c: i for i, c in enumerate(classes)}
    gold = np.array([[index[d["gold"]] for d in ds] for ds in decided], dtype=np.int64).reshape(len(decided), -1)
    preds = {t: np.array([[index[gate_label(d["pred"], p, topics, t, other)] for d, p in zip(ds, probs)]
                          for ds, probs in zip(decided, oof)], dtype=np.int64).reshape(gold.shape) for t in GATE_THRESHOLDS}
    members = [np.zeros(0, np.int64)] * gold.shape[1]
    if excerpts is not None:
        n_rep = len(decided)
        x_gold = np.array([[index[g] for g in excerpts.gold]] * n_rep, dtype=np.int64).reshape(n_rep, -1)
        x_preds = {t: np.array([[index[gate_label(d, p, topics, t, other)] for d, p in zip(ds, probs)]
                                for ds, probs in zip(excerpts.pred[:n_rep], excerpts.gate[:n_rep])],
                               dtype=np.int64).reshape(x_gold.shape) for t in GATE_THRESHOLDS}
        from train.article_level import group_by_article

        groups = group_by_article(excerpts.article)
        members = [np.asarray(groups.get(a, []), dtype=np.int64) for a in range(gold.shape[1])]

    def with_rows(pick: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A sample of articles, and their paragraphs."""
        return pick, (np.concatenate([members[a] for a in pick]) if len(pick) else np.zeros(0, np.int64))

    def score_of(t: float, sample: tuple[np.ndarray, np.ndarray]) -> float:
        articles = _mean_macro_f1(gold, preds[t], sample[0], k)
        return articles if excerpts is None else (articles + _mean_macro_f1(x_gold, x_preds[t], sample[1], k)) / 2

    score = {t: round(score_of(t, with_rows(np.arange(gold.shape[1]))), 3) for t in GATE_THRESHOLDS}
    best = max(GATE_THRESHOLDS, key=lambda t: (score[t], t))
    rng = np.random.default_rng(seed)
    samples = [with_rows(rng.integers(0, gold.shape[1], gold.shape[1])) for _ in range(GATE_BOOTSTRAP)] if gold.shape[1] else []
    chosen = best
    for t in GATE_THRESHOLDS:
        if t > best and samples and score[best] - score[t] <= float(np.std([score_of(best, x) - score_of(t, x) for x in samples])):
            chosen = t
    return chosen, score[chosen]


def _mean_macro_f1(gold: np.ndarray, pred: np.ndarray, pick: np.ndarray, k: int) -> float:
    """Macro-F1 over the classes present in the gold labels (as `train.metrics.classification_metrics`), mean over
    repeats (rows); ``pick``: the articles of one bootstrap resample (or all of them)."""
    out = []
    for g, p in zip(gold[:, pick], pred[:, pick]):
        confusion = np.bincount(g * k + p, minlength=k * k).reshape(k, k)
        tp = np.diag(confusion).astype(float)
        denominator = confusion.sum(axis=0) + confusion.sum(axis=1)
        f1 = np.divide(2 * tp, denominator, out=np.zeros(k), where=denominator > 0)
        present = confusion.sum(axis=1) > 0
        out.append(float(f1[present].mean()) if present.any() else 0.0)
    return float(np.mean(out)) if out else 0.0


def scope_gate(config: Config, rows: list[dict[str, Any]], oof_probs: np.ndarray, classes: list[str], threshold: float,
               min_topic_share: float, jobs: int | None = 1, excerpt_probs: np.ndarray | None = None,
               ) -> tuple[LinearScorer | None, dict[str, Any] | None, dict[str, np.ndarray] | None, np.ndarray | None]:
    """The gate of a training set: scorer, its ``meta["scope_gate"]``, its out-of-fold P(in scope) per article, and
    that of each row's paragraph scored alone (per repeat, in row order).

    ``oof_probs`` are the paragraph model's held-out probabilities (per repeat), ``excerpt_probs`` those of each
    paragraph scored alone; the gate's threshold is chosen on what its veto does to them (`choose_gate`). None
    when no topic has enough articles to be gated.
    """
    from train.article_level import article_decisions, article_items

    other = config.data.other_label
    articles = article_items(rows, other)  # the order of article_decisions
    ids, texts, gold = [a["article_id"] for a in articles], [a["text"] for a in articles], [a["gold"] for a in articles]
    topics = gated_topics(gold, config.data.labels, config.scope_gate.min_articles)
    if not topics:
        return None, None, None, None
    in_scope = [g != other for g in gold]
    if min(sum(in_scope), len(in_scope) - sum(in_scope)) < MIN_SIDE:
        return None, None, None, None  # too few articles on one side to fit a gate, or to hold any out
    position = {a: i for i, a in enumerate(ids)}
    oof, alone = gate_oof(texts, in_scope, config, jobs, [(position[r["article_id"]], r["text"]) for r in rows])
    if config.scope_gate.threshold is not None:
        chosen, score = config.scope_gate.threshold, None
    else:
        decided = [article_decisions(p, rows, classes, other, threshold, min_topic_share) for p in oof_probs[: len(oof)]]
        excerpts = None
        if excerpt_probs is not None:
            from train.metrics import decisions

            excerpts = Excerpts([decisions(p, classes, other, threshold) for p in excerpt_probs[: len(oof)]], alone,
                                [r["label"] for r in rows], [position[r["article_id"]] for r in rows])
        chosen, score = choose_gate(decided, oof, topics, classes, other, config.seed, excerpts)
    meta = {"topics": topics, "threshold": chosen, "in_scope": IN_SCOPE, "C": config.scope_gate.C,
            "oof_score": score, "oof_criterion": "mean of the article and excerpt macro-F1" if excerpt_probs is not None
            else "article macro-F1", "articles": {"in_scope": int(sum(in_scope)), "other": len(in_scope) - int(sum(in_scope))}}
    return fit_gate(texts, in_scope, config), meta, {a: oof[:, i] for i, a in enumerate(ids)}, alone
