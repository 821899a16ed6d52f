"""prepare: labeled corpora (+ extra labeled sources) -> dataset.

Raw files are only read. The output is a Hugging Face ``DatasetDict`` with a
``train`` split and a ``holdout`` split (source rows kept out of training for
the final out-of-scope check).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from predict.text import paragraphs_or_whole, segment_article
from train.config import Config, SourceConfig
from train.corpus import (SKIP, Annotation, Article, PrepareError, corpus_name, jsonl_lines, read_annotations, read_corpus,
                          read_text_file, resolve_labels, unlabeled_paragraphs)
from train.dataset import check_label_coverage
from train.duplicates import duplicate_groups

@dataclass
class Example:
    text: str
    article_id: str
    paragraph_index: int
    label: str
    split: str = "train"
    origin: str = "corpus"
    context: str = ""  # the whole article the paragraph belongs to (scope features read it)
    family: str = "in_scope"  # in_scope | syria_off_axis | same_vocabulary | general_news


def read_corpora(config: Config) -> tuple[dict[str, Article], list[Annotation]]:
    """Every configured corpus and its annotations; articles of a corpus's test split are marked."""
    articles: dict[str, Article] = {}
    annotations: list[Annotation] = []
    for corpus in config.data.corpora:
        if corpus.optional and not corpus.path.exists():
            continue
        for aid, article in read_corpus(corpus.path, allow_empty=corpus.optional).items():
            if aid in articles:
                raise PrepareError(f"{corpus.path}: article id {aid!r} is also in corpus {articles[aid].corpus}")
            article.holdout = in_holdout(aid, corpus.holdout_fraction)
            articles[aid] = article
        if corpus.annotations.is_file() or not corpus.optional:
            annotations += read_annotations(corpus.annotations)
    return articles, annotations


def article_family(labels: dict[int, str], annotations_whole: bool, other: str | None) -> str:
    """What kind of article this is, for the per-family out-of-scope report (from its gold labels)."""
    if any(label not in (other, SKIP) for label in labels.values()):
        return "in_scope"
    # a whole-article `other` row means the reader found no Syria link at all
    return "same_vocabulary" if annotations_whole else "syria_off_axis"


def corpus_examples(articles: dict[str, Article], annotations: list[Annotation], config: Config) -> list[Example]:
    """Labeled paragraphs of the corpora (unlabeled and `skip` paragraphs left out)."""
    labels = resolve_labels(articles, annotations, config.classes)
    whole = {a.article_id for a in annotations if a.paragraph_hash is None}
    examples = []
    for aid in sorted(labels):
        article = articles[aid]
        family = article_family(labels[aid], aid in whole, config.data.other_label)
        split = "holdout" if article.holdout else "train"
        for i, p in enumerate(segment_article(article.text)):
            label = labels[aid].get(i)
            if label is not None and label != SKIP:
                examples.append(Example(p, aid, i, label, split, article.corpus, article.text, family))
    return examples


def in_holdout(article_id: str, fraction: float) -> bool:
    """Stable, seed-free split: the same article is always on the same side."""
    bucket = int(hashlib.sha256(article_id.encode("utf-8")).hexdigest()[:8], 16) / 16**8
    return bucket < fraction


def source_examples(rows: Iterable[dict[str, Any]], source: SourceConfig, granularity: str,
                    exclude: set[str] = frozenset()) -> list[Example]:
    """Examples from a labeled JSONL source, its labels mapped and capped per label.

    Rows whose text is also a corpus article (``exclude``) are left out, so no article
    is on both sides of a split.
    """
    taken: Counter[str] = Counter()
    examples = []
    for n, row in enumerate(rows, start=1):
        label = source.label_map.get(str(row.get(source.label_field)))
        text = row.get(source.text_field)
        if label is None or not isinstance(text, str) or not text.strip() or text.strip() in exclude:
            continue
        if source.max_per_label and taken[label] >= source.max_per_label:
            continue
        taken[label] += 1
        article_id = str(row.get("id") or row.get("source") or f"{source.path.name}:{n}")
        split = "holdout" if in_holdout(article_id, source.holdout_fraction) else "train"
        units = [text.strip()] if granularity == "article" else paragraphs_or_whole(text)
        examples += [Example(u, article_id, i, label, split, source.path.name, text, "general_news") for i, u in enumerate(units)]
    return examples


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise PrepareError(f"{path}: source file not found")
    rows = []
    for n, line in enumerate(jsonl_lines(read_text_file(path)), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise PrepareError(f"{path}:{n}: broken JSON line ({exc.msg})") from None
    return rows


def articles_as_units(examples: list[Example]) -> list[Example]:
    """Article granularity for the annotated corpus: one unit per article, majority label."""
    by_article: dict[str, list[Example]] = {}
    for e in examples:
        by_article.setdefault(e.article_id, []).append(e)
    return [
        Example("\n".join(e.text for e in exs), aid, 0, Counter(e.label for e in exs).most_common(1)[0][0], exs[0].split,
                exs[0].origin, exs[0].context, exs[0].family)
        for aid, exs in by_article.items()
    ]


def collect_examples(config: Config, corpus: tuple[dict[str, Article], list[Annotation]] | None = None) -> list[Example]:
    """Read every configured input (``corpus`` if already read) and return the labeled examples, each text once."""
    return drop_copies(labeled_examples(config, corpus), input_order(config))[0]


def labeled_examples(config: Config, corpus: tuple[dict[str, Article], list[Annotation]] | None = None) -> list[Example]:
    """Every labeled example of the configured inputs, copies of one text under two ids included."""
    data = config.data
    articles, annotations = corpus if corpus is not None else read_corpora(config)
    examples = corpus_examples(articles, annotations, config) if articles else []
    if data.granularity == "article":
        examples = articles_as_units(examples)
    # only labeled articles take a source row out: an unlabeled added copy of one is no example
    labeled = [articles[a] for a in dict.fromkeys(e.article_id for e in examples) if a in articles]
    bodies = {a.text.split("\n", 1)[-1].strip() for a in labeled} | {a.text.strip() for a in labeled}
    for source in data.sources:
        unknown = set(source.label_map.values()) - set(config.classes)
        if unknown:
            raise PrepareError(f"data.sources[{source.path}].label_map: {sorted(unknown)} not in the configured classes {config.classes}")
        examples += source_examples(read_jsonl(source.path), source, data.granularity, bodies)
    return examples


def input_order(config: Config) -> list[str]:
    """The `Example.origin` of each configured input, in config order: corpora (seeds, ANT, added), then sources."""
    return [corpus_name(c.path) for c in config.data.corpora] + [s.path.name for s in config.data.sources]


@dataclass
class Copy:
    left_out: str  # article id
    kept: str      # the article id kept in its place
    left_out_origin: str
    kept_origin: str


def drop_copies(examples: list[Example], priority: Sequence[str] = ()) -> tuple[list[Example], list[Copy]]:
    """Each text once: of the articles that are copies of one another (`train.duplicates`), the one
    of the earliest input in ``priority`` (`input_order`) is kept, then the smallest id; the others
    are left out. Returns the examples kept and the copies left out.

    ANT files some articles twice under two ids, and a user can add a story the corpus has;
    grouped by id alone, one copy could be trained on and the other tested on, and a copy in
    the test split would count twice. An added copy never displaces a corpus article (nor its
    place in the fixed test split).
    """
    order = {origin: i for i, origin in enumerate(priority)}
    groups = duplicate_groups([e.article_id for e in examples], [e.context or e.text for e in examples],
                              [order.get(e.origin, len(order)) for e in examples])
    origin = {e.article_id: e.origin for e in examples}
    kept = [e for e, g in zip(examples, groups) if e.article_id == g]
    copies = {e.article_id: g for e, g in zip(examples, groups) if e.article_id != g}
    return kept, [Copy(a, k, origin[a], origin[k]) for a, k in sorted(copies.items())]


FEATURES = {"text": "string", "article_id": "string", "paragraph_index": "int32", "origin": "string",
            "context": "string", "family": "string"}


def build_dataset(examples: list[Example], classes: list[str]):
    """Examples -> ``DatasetDict`` with ``label`` as a ``ClassLabel`` over ``classes``."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features({**{k: Value(v) for k, v in FEATURES.items()}, "label": ClassLabel(names=classes)})
    splits = {}
    for split in ("train", "holdout"):
        rows = [asdict(e) for e in examples if e.split == split]
        if rows:  # an empty split cannot be saved; readers treat a missing split as empty
            splits[split] = Dataset.from_dict({k: [r[k] for r in rows] for k in features}, features=features)
    return DatasetDict(splits)


def label_counts(examples: list[Example]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for e in examples:
        out.setdefault(e.split, Counter())[e.label] += 1  # type: ignore[index]
    return {split: dict(sorted(c.items())) for split, c in out.items()}


def run_prepare(config: Config, config_path: str) -> tuple[dict[str, dict[str, int]], int, list[Copy]]:
    """The prepare stage: write the dataset to ``data.dataset_dir``; return label counts per split,
    the number of corpus paragraphs that have no annotation yet and the copies left out (`drop_copies`)."""
    articles, annotations = read_corpora(config)
    examples, copies = drop_copies(labeled_examples(config, (articles, annotations)), input_order(config))
    counts = label_counts(examples)
    check_label_coverage(counts.get("train", {}), config, config_path)
    import datasets

    datasets.disable_progress_bars()
    dataset = build_dataset(examples, config.classes)
    out = config.data.dataset_dir
    dataset.save_to_disk(str(out))
    (out / "label_counts.json").write_text(json.dumps(counts, indent=2), encoding="utf-8")
    (out / "copies_left_out.json").write_text(json.dumps([asdict(c) for c in copies], indent=1), encoding="utf-8")
    return counts, len(unlabeled_paragraphs(articles, annotations)), copies
