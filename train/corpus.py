"""The labeled corpora: raw articles (never edited) and the annotations that name their paragraphs.

A corpus is a folder of ``.txt`` articles (id = file stem) or a JSONL file of rows
``{"id", "text", "title"?, "url"?, ...}``. Its annotation file holds paragraph rows
``{"article_id", "paragraph_hash", "label"}`` or whole-article rows
``{"article_id", "label", "level": "article"}``; extra keys are provenance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from predict.text import paragraph_hash, segment_article

SKIP = "skip"  # annotation for a paragraph with nothing to learn from (an attribution line)


def jsonl_lines(text: str) -> list[str]:
    """The lines of a JSONL text, split where JSON Lines splits: at \\n (a \\r before it dropped).

    Not `str.splitlines`: it also splits at U+2028, U+2029, U+0085 and \\x1c-\\x1e, which a
    JSON string may hold unescaped (`mihwar annotate` writes them as they are), so a row whose
    text held one was read as two broken rows.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


class PrepareError(ValueError):
    """Raw data and annotations disagree; the message names file and line."""


@dataclass
class Article:
    id: str
    text: str  # what is segmented: the title line (when the source has one), then the body
    corpus: str
    source: str | None = None
    url: str | None = None
    title: str | None = None
    holdout: bool = False


@dataclass
class Annotation:
    article_id: str
    paragraph_hash: str | None  # None for a whole-article row
    label: str
    line: int
    file: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def corpus_name(path: Path) -> str:
    """The name of a corpus (`Article.corpus`): its folder's name, or for ``X/articles.jsonl`` the folder X."""
    if path.suffix != ".jsonl":
        return path.name
    return path.parent.name if path.stem == "articles" else path.stem


def read_folder(folder: Path) -> dict[str, Article]:
    """Article id (file stem) -> article, for every ``.txt`` in the folder."""
    articles = {}
    for path in sorted(folder.glob("*.txt")):
        text = read_text_file(path, "utf-8-sig")
        meta = read_sidecar(path.with_suffix(".meta.json"))
        articles[path.stem] = Article(path.stem, text, corpus_name(folder), meta.get("source"), meta.get("url"), meta.get("title"))
    return articles


def read_sidecar(path: Path) -> dict:
    """An article's ``.meta.json`` (source, url, title), {} when it has none; a broken one is an error naming it."""
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PrepareError(f"{path}: broken article sidecar ({exc}); restore it from git or DVC, "
                           "or delete it and the article's .txt and run `mihwar add` again") from None
    if not isinstance(meta, dict):
        raise PrepareError(f"{path}: broken article sidecar (a JSON object is expected)")
    return meta


def read_text_file(path: Path, encoding: str = "utf-8") -> str:
    """A corpus or annotation file as text; one that is not UTF-8 is an error naming it and the byte."""
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise PrepareError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start}); re-save it as UTF-8") from None


def read_jsonl_corpus(path: Path) -> dict[str, Article]:
    """Article id -> article for a JSONL corpus; the title, when present, is the first line."""
    articles = {}
    for n, line in enumerate(jsonl_lines(read_text_file(path)), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            aid, body = str(row["id"]), row["text"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise PrepareError(f"{path}:{n}: broken corpus row ({exc!r}); need id and text") from None
        title = row.get("title")
        text = f"{title}\n{body}" if title else body
        if aid in articles:
            raise PrepareError(f"{path}:{n}: article id {aid!r} appears twice")
        articles[aid] = Article(aid, text, corpus_name(path),
                                row.get("source") or row.get("outlet"), row.get("url"), title)
    return articles


def read_corpus(path: Path, allow_empty: bool = False) -> dict[str, Article]:
    """A folder of .txt articles or a JSONL corpus file."""
    if path.is_dir():
        articles = read_folder(path)
    elif path.is_file() and path.suffix == ".jsonl":
        articles = read_jsonl_corpus(path)
    else:
        raise PrepareError(f"{path}: corpus not found (a folder of .txt files or a .jsonl file)")
    if not articles and not allow_empty:
        raise PrepareError(f"{path}: no articles")
    return articles


def read_annotations(path: Path) -> list[Annotation]:
    """Parse an annotation JSONL, naming the line of any broken row."""
    return [a for _, a in annotation_rows(path)]


def annotation_rows(path: Path) -> list[tuple[dict[str, Any], Annotation]]:
    """Each row of an annotation JSONL as written, and as parsed; a broken row is an error naming its line."""
    if not path.is_file():
        raise PrepareError(f"{path}: annotations file not found")
    out = []
    for n, line in enumerate(jsonl_lines(read_text_file(path)), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            level = row.get("level", "paragraph")
            if level not in ("paragraph", "article"):
                raise ValueError(f"level {level!r}")
            phash = row["paragraph_hash"] if level == "paragraph" else None
            extra = {k: v for k, v in row.items() if k not in ("article_id", "paragraph_hash", "label", "level", "excerpt")}
            out.append((row, Annotation(str(row["article_id"]), phash, row["label"], n, str(path), extra)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PrepareError(f"{path}:{n}: broken annotation row ({exc!r}); need article_id, label and "
                               "paragraph_hash (or \"level\": \"article\")") from None
    return out


def check_conflicts(annotations: list[Annotation]) -> None:
    """Two rows for one paragraph (or one article) must agree, and so must an article's label and its paragraphs'
    labels (the article label would silently override them); name both lines when they do not."""
    seen: dict[tuple[str, str | None], Annotation] = {}
    for a in annotations:
        key = (a.article_id, a.paragraph_hash)
        first = seen.setdefault(key, a)
        if first.label != a.label:
            what = f"paragraph {a.paragraph_hash} of article {a.article_id}" if a.paragraph_hash else f"article {a.article_id}"
            raise PrepareError(f"{first.where} and {a.where}: {what} is labeled both {first.label!r} and {a.label!r}; "
                               "keep one row")
    for a in annotations:
        whole = seen.get((a.article_id, None))
        if a.paragraph_hash and whole is not None and whole.label != a.label:
            raise PrepareError(f"{whole.where} and {a.where}: article {a.article_id} is labeled {whole.label!r} as a whole, "
                               f"its paragraph {a.paragraph_hash} {a.label!r}; an article label sets all of its paragraphs: "
                               "keep one of them")


def paragraph_index(articles: dict[str, Article]) -> dict[tuple[str, str], tuple[int, str]]:
    """(article id, paragraph hash) -> (paragraph index, paragraph text)."""
    index = {}
    for aid, article in articles.items():
        for i, p in enumerate(segment_article(article.text)):
            index.setdefault((aid, paragraph_hash(p)), (i, p))
    return index


def resolve_labels(articles: dict[str, Article], annotations: list[Annotation], classes: list[str]) -> dict[str, dict[int, str]]:
    """Article id -> {paragraph index: label}; stale, unknown or contradictory rows are errors."""
    check_conflicts(annotations)
    index = paragraph_index(articles)
    allowed = set(classes) | {SKIP}
    labels: dict[str, dict[int, str]] = {}
    for a in annotations:
        if a.label not in allowed:
            raise PrepareError(f"{a.where}: label {a.label!r} is not in the configured set {sorted(allowed)}")
        if a.article_id not in articles:
            raise PrepareError(f"{a.where}: article {a.article_id!r} is not in the corpus")
        if a.paragraph_hash is None:
            n = len(segment_article(articles[a.article_id].text))
            labels.setdefault(a.article_id, {}).update({i: a.label for i in range(n)})
            continue
        if (a.article_id, a.paragraph_hash) not in index:
            raise PrepareError(f"{a.where}: paragraph {a.paragraph_hash} of article {a.article_id} no longer exists "
                               "(its text or the segmentation changed); re-annotate it")
        labels.setdefault(a.article_id, {})[index[(a.article_id, a.paragraph_hash)][0]] = a.label
    return labels


def unlabeled_paragraphs(articles: dict[str, Article], annotations: list[Annotation]) -> list[tuple[str, int]]:
    """(article id, paragraph index) of every paragraph no annotation covers."""
    done = {(a.article_id, a.paragraph_hash) for a in annotations}
    whole = {a.article_id for a in annotations if a.paragraph_hash is None}
    return [
        (aid, i)
        for aid, article in articles.items() if aid not in whole
        for i, p in enumerate(segment_article(article.text))
        if (aid, paragraph_hash(p)) not in done
    ]
