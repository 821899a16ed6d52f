"""The annotated corpora as the labeling loop sees them: articles with their provenance,
and the annotation file each article's labels belong to.

Articles are read by `train.corpus` (the same readers as `prepare`); this module adds
the raw annotation rows and, for each article, the annotation file its labels go to.
`train.corpus_add` writes folder corpora.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from predict.text import paragraph_hash, segment_article
from train.corpus import Article, annotation_rows, read_corpus


@dataclass
class CorpusSpec:
    path: Path
    annotations: Path


def display_title(article: Article) -> str:
    """The title, or the article's first line when it has none."""
    first = next((line.strip() for line in article.text.splitlines() if line.strip()), article.id)
    return article.title or (first if len(first) <= 120 else first[:120].rsplit(" ", 1)[0] + " …")


def corpus_specs(config: Any) -> list[CorpusSpec]:
    """The annotated corpora of a config (``data.corpora``)."""
    return [CorpusSpec(Path(c.path), Path(c.annotations)) for c in config.data.corpora]


def read_corpus_articles(spec: CorpusSpec) -> dict[str, Article]:
    """A corpus's articles (none when its folder or file does not exist yet); folder articles
    without a recorded source are attributed to their folder."""
    if not spec.path.exists():
        return {}
    articles = read_corpus(spec.path, allow_empty=True)
    for a in articles.values():
        a.source = a.source or (spec.path.name if spec.path.is_dir() else spec.path.parent.name)
    return articles


def read_annotation_rows(path: Path) -> list[dict[str, Any]]:
    """Annotation rows as dicts (missing file = no rows yet); a broken row is an error naming its line."""
    if not path.is_file():
        return []
    return [row for row, _ in annotation_rows(path)]  # the checks `prepare` makes, with the line of a broken row


@dataclass
class LabelingCorpus:
    """Every article of every corpus, every annotation row, and where each article's labels go."""

    articles: dict[str, Article]
    annotations: list[dict[str, Any]]
    annotation_file: dict[str, Path]  # article id -> its corpus's annotation file


def read_labeling_corpus(specs: list[CorpusSpec]) -> LabelingCorpus:
    articles: dict[str, Article] = {}
    annotations: list[dict[str, Any]] = []
    files: dict[str, Path] = {}
    for spec in specs:
        for aid, article in read_corpus_articles(spec).items():
            articles[aid] = article
            files[aid] = spec.annotations
        annotations += read_annotation_rows(spec.annotations)
    return LabelingCorpus(articles, annotations, files)


def unlabeled(articles: dict[str, str], annotations: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    """(article id, paragraph index, paragraph) of every paragraph no row covers.

    A paragraph row covers its paragraph; an article-level row covers the whole article. A placeholder row with
    an empty label (`mihwar annotate` writes them for a person to fill in) covers nothing yet.
    """
    annotations = [a for a in annotations if a.get("label")]
    done = {(a["article_id"], a.get("paragraph_hash")) for a in annotations if a.get("level") != "article"}
    whole = {a["article_id"] for a in annotations if a.get("level") == "article"}
    return [
        (aid, i, p)
        for aid, text in articles.items()
        if aid not in whole
        for i, p in enumerate(segment_article(text))
        if (aid, paragraph_hash(p)) not in done
    ]
