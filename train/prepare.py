"""prepare: raw articles + paragraph annotations (+ extra labeled sources) -> dataset.

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
from typing import Any, Iterable

from predict.text import paragraph_hash, paragraphs_or_whole, segment_article
from train.config import Config, SourceConfig
from train.dataset import check_label_coverage

SKIP = "skip"  # annotation for a paragraph with nothing to learn from (an attribution line)


class PrepareError(ValueError):
    """Raw data and annotations disagree; the message names file and line."""


@dataclass
class Example:
    text: str
    article_id: str
    paragraph_index: int
    label: str
    split: str = "train"
    origin: str = "corpus"


@dataclass
class Annotation:
    article_id: str
    paragraph_hash: str
    label: str
    line: int


def read_corpus(corpus_dir: Path) -> dict[str, str]:
    """Article id (file stem) -> text, for every ``.txt`` in the folder."""
    if not corpus_dir.is_dir():
        raise PrepareError(f"{corpus_dir}: corpus folder not found")
    articles = {}
    for path in sorted(corpus_dir.glob("*.txt")):
        try:
            articles[path.stem] = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PrepareError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start}); re-save it as UTF-8") from None
    if not articles:
        raise PrepareError(f"{corpus_dir}: no .txt articles")
    return articles


def read_annotations(path: Path) -> list[Annotation]:
    """Parse the annotation JSONL, naming the line of any broken row."""
    if not path.is_file():
        raise PrepareError(f"{path}: annotations file not found")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out.append(Annotation(row["article_id"], row["paragraph_hash"], row["label"], n))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise PrepareError(f"{path}:{n}: broken annotation row ({exc!r}); need article_id, paragraph_hash, label") from None
    return out


def label_paragraphs(articles: dict[str, str], annotations: list[Annotation], classes: list[str], where: str) -> list[Example]:
    """Join annotations to the paragraphs they name; stale or unknown ones are errors."""
    index = {}
    for article_id, text in articles.items():
        for i, p in enumerate(segment_article(text)):
            index[(article_id, paragraph_hash(p))] = (i, p)
    allowed = set(classes) | {SKIP}
    examples = []
    for a in annotations:
        if a.label not in allowed:
            raise PrepareError(f"{where}:{a.line}: label {a.label!r} is not in the configured set {sorted(allowed)}")
        if a.article_id not in articles:
            raise PrepareError(f"{where}:{a.line}: article {a.article_id!r} is not in the corpus")
        if (a.article_id, a.paragraph_hash) not in index:
            raise PrepareError(
                f"{where}:{a.line}: paragraph {a.paragraph_hash} of article {a.article_id} no longer exists "
                "(its text or the segmentation changed); re-annotate it"
            )
        if a.label != SKIP:
            i, p = index[(a.article_id, a.paragraph_hash)]
            examples.append(Example(p, a.article_id, i, a.label))
    return sorted(examples, key=lambda e: (e.article_id, e.paragraph_index))


def unlabeled_paragraphs(articles: dict[str, str], annotations: list[Annotation]) -> list[tuple[str, int]]:
    """(article id, paragraph index) of every paragraph no annotation covers."""
    done = {(a.article_id, a.paragraph_hash) for a in annotations}
    return [
        (aid, i)
        for aid, text in articles.items()
        for i, p in enumerate(segment_article(text))
        if (aid, paragraph_hash(p)) not in done
    ]


def in_holdout(article_id: str, fraction: float) -> bool:
    """Stable, seed-free split: the same article is always on the same side."""
    bucket = int(hashlib.sha256(article_id.encode("utf-8")).hexdigest()[:8], 16) / 16**8
    return bucket < fraction


def source_examples(rows: Iterable[dict[str, Any]], source: SourceConfig, granularity: str) -> list[Example]:
    """Examples from a labeled JSONL source, its labels mapped and capped per label."""
    taken: Counter[str] = Counter()
    examples = []
    for n, row in enumerate(rows, start=1):
        label = source.label_map.get(str(row.get(source.label_field)))
        text = row.get(source.text_field)
        if label is None or not isinstance(text, str) or not text.strip():
            continue
        if source.max_per_label and taken[label] >= source.max_per_label:
            continue
        taken[label] += 1
        article_id = str(row.get("id") or row.get("source") or f"{source.path.name}:{n}")
        split = "holdout" if in_holdout(article_id, source.holdout_fraction) else "train"
        units = [text.strip()] if granularity == "article" else paragraphs_or_whole(text)
        examples += [Example(u, article_id, i, label, split, source.path.name) for i, u in enumerate(units)]
    return examples


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise PrepareError(f"{path}: source file not found")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
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
        Example("\n".join(e.text for e in exs), aid, 0, Counter(e.label for e in exs).most_common(1)[0][0])
        for aid, exs in by_article.items()
    ]


def read_annotated_corpus(config: Config) -> tuple[dict[str, str], list[Annotation]]:
    """The corpus articles and their annotations ({} and [] when the config has none)."""
    data = config.data
    if data.corpus_dir is None or data.annotations is None:
        return {}, []
    return read_corpus(data.corpus_dir), read_annotations(data.annotations)


def collect_examples(config: Config, corpus: tuple[dict[str, str], list[Annotation]] | None = None) -> list[Example]:
    """Read every configured input (``corpus`` if already read) and return the labeled examples."""
    data = config.data
    examples: list[Example] = []
    articles, annotations = corpus if corpus is not None else read_annotated_corpus(config)
    if articles:
        corpus_examples = label_paragraphs(articles, annotations, config.classes, str(data.annotations))
        examples += articles_as_units(corpus_examples) if data.granularity == "article" else corpus_examples
    for source in data.sources:
        unknown = set(source.label_map.values()) - set(config.classes)
        if unknown:
            raise PrepareError(f"data.sources[{source.path}].label_map: {sorted(unknown)} not in the configured classes {config.classes}")
        examples += source_examples(read_jsonl(source.path), source, data.granularity)
    return examples


def build_dataset(examples: list[Example], classes: list[str]):
    """Examples -> ``DatasetDict`` with ``label`` as a ``ClassLabel`` over ``classes``."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features(
        {
            "text": Value("string"),
            "article_id": Value("string"),
            "paragraph_index": Value("int32"),
            "label": ClassLabel(names=classes),
            "origin": Value("string"),
        }
    )
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


def run_prepare(config: Config, config_path: str) -> tuple[dict[str, dict[str, int]], int]:
    """The prepare stage: write the dataset to ``data.dataset_dir``; return label counts per split
    and the number of corpus paragraphs that have no annotation yet."""
    articles, annotations = read_annotated_corpus(config)
    examples = collect_examples(config, (articles, annotations))
    counts = label_counts(examples)
    check_label_coverage(counts.get("train", {}), config, config_path)
    import datasets

    datasets.disable_progress_bars()
    dataset = build_dataset(examples, config.classes)
    out = config.data.dataset_dir
    dataset.save_to_disk(str(out))
    (out / "label_counts.json").write_text(json.dumps(counts, indent=2), encoding="utf-8")
    return counts, len(unlabeled_paragraphs(articles, annotations))
