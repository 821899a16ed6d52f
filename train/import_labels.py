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
    for lab in labels:
        name = f"task {lab.task_id}: article {lab.article_id}" + (f" paragraph {lab.paragraph_hash}" if lab.level != "article" else "")
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


def _merge(plan: ImportPlan, row: dict[str, Any], path: Path, name: str, prefer: Prefer | None) -> None:
    rows = plan.rows.setdefault(path, [])
    same = [i for i, r in enumerate(rows) if _row_key(r) == _row_key(row)]
    if not same:
        rows.append(row)
        plan.added += 1
        return
    old = rows[same[0]]
    if old.get("label") == row["label"]:
        plan.unchanged += 1
        return
    if prefer == "new":
        rows[same[0]] = row
        plan.replaced += 1
        plan.conflicts.append(f"{name}: was {old.get('label')!r} in {path}, now {row['label']!r} (--prefer new)")
    else:
        plan.conflicts.append(f"{name}: {path} says {old.get('label')!r}, Label Studio says {row['label']!r}; "
                              f"kept {old.get('label')!r}" + ("" if prefer else " (choose with --prefer new|old)"))


def write_annotations(plan: ImportPlan, before: dict[Path, list[dict[str, Any]]]) -> list[Path]:
    """Write the files whose rows changed; appends stay appends, a replaced row rewrites its file."""
    written = []
    for path, rows in plan.rows.items():
        old = before.get(path, [])
        if rows == old:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if rows[: len(old)] == old and path.is_file():
            with open(path, "a", encoding="utf-8") as f:
                for r in rows[len(old):]:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
        else:
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        written.append(path)
    return written
