"""The annotated corpora as the labeling loop sees them: articles with their provenance,
and the annotation file each article's labels belong to.

A corpus is a folder of ``.txt`` articles (id = file stem, optional ``<id>.meta.json``
sidecar with source/url/title) or a JSONL file of rows ``{id, title, text, url, ...}``
(the article text is its title line, then its text). Each corpus has its own
annotation JSONL. This module only reads; `train.corpus_add` writes folder corpora.

Transition: configs with ``data.corpora`` (a list of ``{path, annotations}``) are read
as given; older configs with ``data.corpus_dir`` + ``data.annotations`` give one corpus,
plus the ``mihwar add`` folder (`ADDED_CORPUS`) when it exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from predict.text import paragraph_hash, segment_article

ADDED_CORPUS = Path("data/raw/added")
ADDED_ANNOTATIONS = Path("data/annotations/added_paragraphs.jsonl")


@dataclass
class CorpusSpec:
    path: Path
    annotations: Path


@dataclass
class CorpusArticle:
    id: str
    text: str
    title: str | None = None
    source: str | None = None
    url: str | None = None
    corpus: Path | None = None

    @property
    def display_title(self) -> str:
        """The title, or the article's first line when it has none."""
        first = next((line.strip() for line in self.text.splitlines() if line.strip()), self.id)
        return self.title or (first if len(first) <= 120 else first[:120].rsplit(" ", 1)[0] + " …")


def corpus_specs(config: Any) -> list[CorpusSpec]:
    """The annotated corpora a config names (see the module docstring for the transition rule)."""
    data = config.data
    corpora = getattr(data, "corpora", None)
    if corpora:
        return [CorpusSpec(Path(c.path), Path(c.annotations)) for c in corpora]
    specs = []
    if getattr(data, "corpus_dir", None) is not None:
        specs.append(CorpusSpec(Path(data.corpus_dir), Path(data.annotations)))
    if ADDED_CORPUS.is_dir() and all(s.path.resolve() != ADDED_CORPUS.resolve() for s in specs):
        specs.append(CorpusSpec(ADDED_CORPUS, ADDED_ANNOTATIONS))
    return specs


def read_folder_corpus(folder: Path) -> dict[str, CorpusArticle]:
    """``<id>.txt`` files with their optional ``<id>.meta.json`` sidecars."""
    out = {}
    for path in sorted(folder.glob("*.txt")):
        meta_path = path.with_name(path.stem + ".meta.json")
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
        out[path.stem] = CorpusArticle(path.stem, path.read_text(encoding="utf-8-sig"), meta.get("title"),
                                       meta.get("source") or path.parent.name, meta.get("url"), folder)
    return out


def read_jsonl_corpus(path: Path) -> dict[str, CorpusArticle]:
    """Rows ``{id, title, text, url, ...}``; the article is the title line, then the text."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        title = row.get("title") or None
        text = f"{title}\n{row['text']}" if title else row["text"]
        out[str(row["id"])] = CorpusArticle(str(row["id"]), text, title, row.get("source") or path.name, row.get("url"), path)
    return out


def read_corpus_articles(spec: CorpusSpec) -> dict[str, CorpusArticle]:
    if spec.path.is_dir():
        return read_folder_corpus(spec.path)
    if spec.path.is_file():
        return read_jsonl_corpus(spec.path)
    return {}


def read_annotation_rows(path: Path) -> list[dict[str, Any]]:
    """Annotation rows as dicts (missing file = no rows yet)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class LabelingCorpus:
    """Every article of every corpus, every annotation row, and where each article's labels go."""

    articles: dict[str, CorpusArticle]
    annotations: list[dict[str, Any]]
    annotation_file: dict[str, Path]  # article id -> its corpus's annotation file


def read_labeling_corpus(specs: list[CorpusSpec]) -> LabelingCorpus:
    articles: dict[str, CorpusArticle] = {}
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

    A paragraph row covers its paragraph; an article-level row covers the whole article.
    """
    done = {(a["article_id"], a.get("paragraph_hash")) for a in annotations if a.get("level") != "article"}
    whole = {a["article_id"] for a in annotations if a.get("level") == "article"}
    return [
        (aid, i, p)
        for aid, text in articles.items()
        if aid not in whole
        for i, p in enumerate(segment_article(text))
        if (aid, paragraph_hash(p)) not in done
    ]
