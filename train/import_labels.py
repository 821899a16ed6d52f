"""`mihwar import-labels`: human labels from a Label Studio export -> annotation rows.

Each label is matched to a paragraph of the corpora by article id and paragraph hash
(or to a whole article); one it cannot match is reported by name. A label that
contradicts an existing row is a conflict: reported, and decided only by ``prefer``
(``new`` replaces the old row, ``old`` or None keeps it). Rows carry their provenance:
annotator, time, Label Studio task and annotation ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from predict.text import paragraph_hash, segment_article
from train.label_studio import ExportedLabel

Prefer = Literal["new", "old"]


@dataclass
class ImportPlan:
    rows: dict[Path, list[dict[str, Any]]] = field(default_factory=dict)  # annotation file -> its rows after import
    added: int = 0
    unchanged: int = 0
    replaced: int = 0
    problems: list[str] = field(default_factory=list)  # unmatched paragraphs, unknown labels
    conflicts: list[str] = field(default_factory=list)


def annotation_row(label: ExportedLabel) -> dict[str, Any]:
    key = {"article_id": label.article_id, "label": label.label}
    if label.level == "article":
        key["level"] = "article"
    else:
        key = {"article_id": label.article_id, "paragraph_hash": label.paragraph_hash, "label": label.label,
               "excerpt": label.text[:80]}
    return {**key, "annotator": ",".join(label.annotators), "annotated_at": label.annotated_at,
            "ls_task_id": label.task_id, "ls_annotation_ids": label.annotation_ids, "origin": "label-studio"}


def _row_key(row: dict[str, Any]) -> tuple[str, str | None]:
    return (row["article_id"], None if row.get("level") == "article" else row.get("paragraph_hash"))


def plan_import(labels: list[ExportedLabel], articles: dict[str, str], annotation_file: dict[str, Path],
                existing: dict[Path, list[dict[str, Any]]], allowed: set[str], prefer: Prefer | None) -> ImportPlan:
    """What the annotation files look like after the import, and what was reported on the way."""
    plan = ImportPlan(rows={path: list(rows) for path, rows in existing.items()})
    split = _disagreeing_tasks(labels)
    for lab in labels:
        name = f"task {lab.task_id}: article {lab.article_id}" + (f" paragraph {lab.paragraph_hash}" if lab.level != "article" else "")
        if id(lab) in split:
            plan.problems.append(f"{name}: {split[id(lab)]}; not imported, resolve it in Label Studio")
            continue
        if lab.label not in allowed:
            plan.problems.append(f"{name}: label {lab.label!r} is not one of {sorted(allowed)}; not imported")
            continue
        if lab.article_id not in articles:
            plan.problems.append(f"{name}: article not in any corpus; not imported («{lab.text[:60]}»)")
            continue
        if lab.level != "article" and lab.paragraph_hash not in {paragraph_hash(p) for p in segment_article(articles[lab.article_id])}:
            plan.problems.append(f"{name}: no such paragraph in the article any more (text or segmentation changed); "
                                 f"not imported («{lab.text[:60]}»)")
            continue
        _merge(plan, annotation_row(lab), annotation_file[lab.article_id], name, prefer)
    return plan


def _disagreeing_tasks(labels: list[ExportedLabel]) -> dict[int, str]:
    """``id(label)`` -> why, for tasks of one export that label the same paragraph (or article) differently, or an
    article and one of its paragraphs differently: like annotators who disagree, none of them is imported (else the
    first one would be written as settled and the others reported against it). Keyed by the label object, as an
    export's tasks may lack ids."""
    groups: dict[tuple[str, str | None], list[ExportedLabel]] = {}
    for lab in labels:
        groups.setdefault((lab.article_id, None if lab.level == "article" else lab.paragraph_hash), []).append(lab)
    for (aid, phash), group in list(groups.items()):
        if phash is None:  # an article label must agree with the labels of its paragraphs in the same export
            group += [lab for (a, h), g in groups.items() if a == aid and h is not None for lab in g]
    out = {}
    for group in groups.values():
        if len({lab.label for lab in group}) > 1:
            said = ", ".join(f"task {lab.task_id} says {lab.label!r}" + (" for the article" if lab.level == "article" else "")
                             for lab in group)
            out.update({id(lab): f"tasks of this export disagree ({said})" for lab in group})
    return out


def _contradicted(rows: list[dict[str, Any]], row: dict[str, Any]) -> dict[str, Any] | None:
    """A row of the other level that contradicts ``row``: an article-level label and a paragraph label of the same
    article that differ (the article label would silently override the paragraph's at `prepare`)."""
    for r in rows:
        if r.get("article_id") == row["article_id"] and (r.get("level") == "article") != (row.get("level") == "article") \
                and r.get("label") and r.get("label") != row["label"]:  # a placeholder ('') contradicts nothing
            return r
    return None


def _merge(plan: ImportPlan, row: dict[str, Any], path: Path, name: str, prefer: Prefer | None) -> None:
    rows = plan.rows.setdefault(path, [])
    key = _row_key(row)
    other = _contradicted(rows, row)
    if other is not None:  # nothing imported: the file, placeholders included, stays as it is
        level = "the article" if other.get("level") == "article" else f"its paragraph {other.get('paragraph_hash')}"
        plan.conflicts.append(f"{name}: {path} labels {level} {other.get('label')!r}, Label Studio says {row['label']!r}; "
                              "not imported (an article label and its paragraphs' labels must agree: edit the file)")
        return
    blank = [i for i, r in enumerate(rows) if _row_key(r) == key and not r.get("label")]
    same = [i for i, r in enumerate(rows) if _row_key(r) == key and r.get("label")]
    if blank and (not same or all(rows[i].get("label") == row["label"] for i in same) or prefer == "new"):
        for i in reversed(blank):  # `mihwar annotate`'s placeholders nobody filled in: this label fills them
            del rows[i]
        same = [i for i, r in enumerate(rows) if _row_key(r) == key]
    if not same:
        rows.insert(blank[0] if blank else len(rows), row)  # where its placeholder was, else at the end
        plan.added += 1
        return
    old = rows[same[0]]
    if all(rows[i].get("label") == row["label"] for i in same):
        plan.unchanged += 1
        return
    if prefer == "new":
        rows[same[0]] = row
        for i in reversed(same[1:]):  # every row of that paragraph, not only the first: the file must not contradict itself
            del rows[i]
        plan.replaced += 1
        plan.conflicts.append(f"{name}: was {old.get('label')!r} in {path}, now {row['label']!r} (--prefer new)")
    else:
        plan.conflicts.append(f"{name}: {path} says {old.get('label')!r}, Label Studio says {row['label']!r}; "
                              f"kept {old.get('label')!r}" + ("" if prefer else " (choose with --prefer new|old)"))


def write_annotations(plan: ImportPlan, before: dict[Path, list[dict[str, Any]]]) -> list[Path]:
    """Write the files whose rows changed, each whole or not at all (`train.files`): appended rows keep the
    file's bytes before them; a replaced row rewrites its file."""
    from train.files import append_atomically, write_atomically

    written = []
    for path, rows in plan.rows.items():
        old = before.get(path, [])
        if rows == old:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if rows[: len(old)] == old and path.is_file():
            append_atomically(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[len(old):]))
        else:
            write_atomically(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        written.append(path)
    return written
