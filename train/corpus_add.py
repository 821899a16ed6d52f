"""`mihwar add`: bring new articles into a folder corpus, raw text unedited.

Each article becomes ``<id>.txt`` (its text exactly as read) plus ``<id>.meta.json``
(source, url, title, added_at, sha256). The id is ``<slug>_<sha256[:16]>``; an article
whose text is already in any corpus is refused, by content, with a message.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from train.corpus import jsonl_lines

_SLUG = re.compile(r"[^0-9A-Za-z]+")


@dataclass
class NewArticle:
    text: str
    source: str  # the input it came from: file path, or file:line for table rows
    url: str | None = None
    title: str | None = None
    input_id: str | None = None


@dataclass
class AddResult:
    added: list[str] = field(default_factory=list)  # new article ids
    refused: list[str] = field(default_factory=list)  # one message per refused input


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_key(text: str) -> str:
    """What makes two articles the same: their normalized text (BOM, line ends, spacing and
    spelling variants do not make a new article)."""
    from predict.text import normalize_arabic

    return hashlib.sha256(normalize_arabic(text.lstrip("\ufeff")).encode("utf-8")).hexdigest()


def known_articles(texts: dict[str, str]) -> dict[str, str]:
    """content key -> article id, for the articles already in the corpora."""
    return {content_key(text): aid for aid, text in texts.items()}


def source_texts(sources: Iterable[Any]) -> dict[str, str]:
    """``FILE:ID`` -> text of every row of the config's labeled sources (`data.sources`, the general-news set): an
    added copy of one would take it out of the dataset at `prepare`, so `add` refuses it like a corpus article."""
    from train.prepare import read_jsonl

    out = {}
    for source in sources:
        for n, row in enumerate(read_jsonl(source.path), start=1):
            text = row.get(source.text_field)
            if isinstance(text, str) and text.strip():
                out[f"{source.path}:{row.get('id') or n}"] = text
    return out


def article_id(article: NewArticle, sha: str) -> str:
    """``<slug>_<sha[:16]>``: a readable hint of where it came from, and its content."""
    hint = article.input_id or Path(article.source.split(":")[0]).stem
    slug = _SLUG.sub("-", hint).strip("-").lower()[:40] or "article"
    return f"{slug}_{sha[:16]}"


def plan_additions(articles: Iterable[NewArticle], known: dict[str, str]) -> tuple[list[tuple[str, NewArticle, str]], list[str]]:
    """Which articles to write (id, article, sha256) and which to refuse, and why.

    ``known`` maps the `content_key` of every article already in the corpora to its id;
    an article repeated inside the input is refused after its first occurrence.
    """
    seen = dict(known)
    plan, refused = [], []
    for a in articles:
        if not a.text.strip():
            refused.append(f"{a.source}: empty text, not added")
            continue
        key, sha = content_key(a.text), text_sha256(a.text)
        if key in seen:
            refused.append(f"{a.source}: duplicate of article {seen[key]} (same text), not added")
            continue
        aid = article_id(a, sha)
        seen[key] = aid
        plan.append((aid, a, sha))
    return plan, refused


def write_article(folder: Path, aid: str, article: NewArticle, sha: str, now: datetime | None = None) -> None:
    """``<id>.meta.json`` sidecar, then ``<id>.txt`` (text as read), each written whole or not at all: an
    interrupted `add` leaves at most a sidecar without its article, which the corpus ignores and the next
    `add` of that article overwrites."""
    from train.files import write_atomically

    folder.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"id": aid, "source": article.source, "url": article.url, "title": article.title,
                            "added_at": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"), "sha256": sha}
    write_atomically(folder / f"{aid}.meta.json", json.dumps(meta, ensure_ascii=False, indent=2) + "\n")
    write_atomically(folder / f"{aid}.txt", article.text)


def read_new_articles(paths: list[str], text_column: str = "text", id_column: str = "id") -> tuple[list[NewArticle], list[str]]:
    """Articles from any input `mihwar predict` reads; unreadable inputs come back as messages.

    Table rows (JSONL/CSV/Parquet) keep their ``url`` and ``title`` columns when present.
    """
    from predict.readers import ReadOptions, check_tables, expand_inputs, read_all

    opts = ReadOptions(text_column=text_column, id_column=id_column)
    files = expand_inputs(paths)
    check_tables(files, opts)
    extras = _table_extras(files, id_column)
    articles, errors = [], []
    for record in read_all(files, opts):
        if record.error:
            errors.append(f"{record.id}: {record.error}")
            continue
        extra = extras.get(record.id, {})
        is_table = record.id in extras
        source = extra.get("_where", record.id)
        articles.append(NewArticle(record.text or "", source, extra.get("url"), extra.get("title"),
                                   record.id if is_table else None))
    return articles, errors


def _table_rows(f: str, suffix: str) -> list[Any]:
    if suffix == ".jsonl":
        rows: list[Any] = []
        for line in jsonl_lines(Path(f).read_bytes().decode("utf-8-sig", "replace")):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                rows.append({})
        return rows
    if suffix in (".csv", ".parquet"):
        import pandas as pd

        df = pd.read_csv(f, dtype=str) if suffix == ".csv" else pd.read_parquet(f)
        return df.where(df.notna(), None).to_dict("records")
    return []


def _table_extras(files: list[str], id_column: str) -> dict[str, dict[str, Any]]:
    """Record id (as `predict.readers` names it) -> url/title and where the row is, for table rows."""
    out: dict[str, dict[str, Any]] = {}
    for f in files:
        suffix = Path(f).suffix.lower()
        try:
            rows = _table_rows(f, suffix)
        except Exception:  # noqa: BLE001 - a table the readers report row by row (encoding, a broken row, damage)
            continue  # keeps its rows, without url/title: the batch goes on, as `mihwar predict` does
        first = 2 if suffix == ".csv" else 1  # readers count a CSV's header as line 1
        for n, row in enumerate(rows, start=first):
            if not isinstance(row, dict):
                continue
            where = f"{f}:{n}"
            rid = where if row.get(id_column) in (None, "") else str(row[id_column])
            out[rid] = {"url": row.get("url"), "title": row.get("title"), "_where": where}
    return out
