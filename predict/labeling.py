"""Records -> output rows with the model, and the summary of a batch.

Shared by `mihwar predict` and the server: every row has the same keys, and a
record that cannot be labeled (unreadable, empty, too long, invalid Unicode,
or one the model fails on) gets a row with ``error`` instead of stopping the rest.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from predict.decoding import find_invalid, safe_text
from predict.limits import ERRORS_SHOWN
from predict.tables import Record
from predict.text import has_arabic, is_blank

EXPLAIN_TOP = 8
EXIT_OK, EXIT_SOME_FAILED, EXIT_NONE_LABELED = 0, 3, 4


def make_row(rid: str, opts: Any, *, label: str | None = None, confidence: float | None = None,
             scores: dict[str, float] | None = None, not_arabic: bool = False, error: str | None = None,
             prediction: Any = None) -> dict[str, Any]:
    """The one output-row shape: every row has the same keys, whatever happened to its input."""
    if prediction is not None:
        label, confidence, scores = prediction.label, prediction.confidence, prediction.scores
    row = {"id": safe_text(rid), "label": label, "confidence": confidence, "scores": scores, "not_arabic": not_arabic,
           "error": safe_text(error) if error else None}
    if opts.paragraphs:
        row["paragraphs"] = [asdict(x) for x in prediction.paragraphs] if prediction else None
    if opts.explain:
        row["explanation"] = (prediction.explanation or []) if prediction else None
    return row


def _place(r: Record) -> str:
    """`` (FILE:LINE)`` for a table row with its own id, as the readers name a row in their errors; else nothing."""
    return f" ({r.where})" if r.where else ""


def _unscored_row(model: Any, r: Record, opts: Any) -> dict[str, Any] | None:
    """The row of a record that needs no scoring (an error, or not Arabic); None when it must be scored."""
    if r.error:
        return make_row(r.id, opts, error=r.error)
    at = _place(r)
    if is_blank(r.text):
        return make_row(r.id, opts, error="empty text" + at)
    if len(r.text) > opts.max_chars:
        return make_row(r.id, opts, error=f"text too long: {len(r.text)} characters > limit {opts.max_chars}{at}")
    bad = find_invalid(r.text)
    if bad is not None:
        return make_row(r.id, opts, error=f"text holds invalid Unicode (a lone surrogate) at character {bad}{at}")
    if not has_arabic(r.text):
        return make_row(r.id, opts, label=model.other_label, not_arabic=True)
    return None


def _scored_rows(model: Any, records: list[Record], opts: Any) -> list[dict[str, Any]]:
    """Score records together; if the model fails on the chunk, one by one, so only the culprit gets an error."""
    try:
        preds = model.predict_articles([r.text for r in records], paragraphs=opts.paragraphs,
                                       explain=EXPLAIN_TOP if opts.explain else 0)
        return [make_row(r.id, opts, prediction=p) for r, p in zip(records, preds)]
    except Exception as exc:  # a model failure on one text must not cost the rest of the batch
        if len(records) == 1:
            return [make_row(records[0].id, opts,
                             error=f"the model could not label it: {type(exc).__name__}: {exc}{_place(records[0])}")]
        return [row for r in records for row in _scored_rows(model, [r], opts)]


def label_records(model: Any, records: list[Record], opts: Any) -> list[dict[str, Any]]:
    """One row per record, same order; unreadable, empty, oversized and non-Arabic texts included."""
    rows: list[dict[str, Any] | None] = [_unscored_row(model, r, opts) for r in records]
    to_score = [i for i, row in enumerate(rows) if row is None]
    for i, row in zip(to_score, _scored_rows(model, [records[i] for i in to_score], opts) if to_score else []):
        rows[i] = row
    return rows  # type: ignore[return-value]


def exit_status(labeled: int, failed: int) -> int:
    """A batch's exit status (`mihwar predict`, `mihwar spark-label`): 0 every article labeled; 3 some could not
    be; 4 none was labeled (or there was nothing to label)."""
    if labeled == 0:
        return EXIT_NONE_LABELED
    return EXIT_SOME_FAILED if failed else EXIT_OK


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """``text`` for a terminal: control characters (line breaks, escape sequences) written as ``\\n``, ``\\x1b``...

    An id or a path comes from the input; raw, it could break the summary onto a fake line or send the
    terminal escape sequences (set its title, write to the clipboard)."""
    return _CONTROL.sub(lambda m: ascii(m.group())[1:-1], text)


@dataclass
class Summary:
    labeled: int = 0
    counts: Counter = field(default_factory=Counter)
    errors: list[tuple[str, str]] = field(default_factory=list)  # the first ERRORS_SHOWN only
    failed: int = 0
    not_arabic: int = 0
    resumed_after: int = 0
    nothing_to_resume: bool = False  # --resume given, and no journal of an interrupted run found
    notes: list[str] = field(default_factory=list)  # said after the counts (an --id-column some input lacks)
    seconds: float = 0.0
    output: str = "-"
    model_uri: str = ""
    model_identity: str = ""

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        for r in rows:
            if r["error"]:
                self.failed += 1
                if len(self.errors) < ERRORS_SHOWN:
                    self.errors.append((r["id"], r["error"]))
            else:
                self.labeled += 1
                self.counts[r["label"]] += 1
                self.not_arabic += bool(r.get("not_arabic"))

    @property
    def exit_code(self) -> int:
        return exit_status(self.labeled, self.failed)

    def meta(self, inputs: list[str], options: dict[str, Any]) -> dict[str, Any]:
        """The output's sidecar: which model labeled it, from what, and how it went."""
        return {"model": {"uri": self.model_uri, "identity": self.model_identity}, "inputs": inputs, "options": options,
                "rows": self.labeled + self.failed, "labeled": self.labeled, "errors": self.failed,
                "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}

    def render(self) -> str:
        total = self.labeled + self.failed
        lines = [f"labeled {self.labeled} of {total} article{'' if total == 1 else 's'} in {self.seconds:.2f}s"
                 + (f" (resumed after {self.resumed_after} rows already written)" if self.resumed_after else "")
                 + f"; output: {self.output}",
                 f"model: {self.model_uri} (model id {self.model_identity})",
                 "per label: " + (", ".join(f"{k}={v}" for k, v in sorted(self.counts.items())) or "none")]
        lines += [f"note: {printable(n)}" for n in self.notes]
        if self.nothing_to_resume:
            lines.append(f"--resume: no interrupted run to resume ({self.output}.partial not found), so every article "
                         "was labeled")
        if self.not_arabic:
            lines.append(f"not Arabic (labeled other, flagged): {self.not_arabic}")
        lines.append(f"could not label: {self.failed}")
        lines += [f"  {printable(rid)}: {printable(err)}" for rid, err in self.errors]
        if self.failed > len(self.errors):
            where = "stdout" if self.output == "-" else self.output
            lines.append(f"  ... and {self.failed - len(self.errors)} more: every row with an \"error\" in {where}")
        return "\n".join(lines)
