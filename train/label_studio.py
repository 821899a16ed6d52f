"""Label Studio's formats: the labeling config, tasks with pre-annotations, and the export.

Pure functions over dicts; `train.label_studio_api` talks HTTP, `train.import_labels`
merges what comes back into the annotation files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence
from xml.sax.saxutils import quoteattr

from train.suggest import Candidate

FROM_NAME, TO_NAME = "label", "text"
SKIP = "skip"
ARABIC_NAMES = {"drugs": "المخدرات والكبتاغون", "counter_isis": "مكافحة داعش", "sanctions": "العقوبات",
                "diplomacy": "الدبلوماسية", "other": "خارج النطاق", SKIP: "تخطَّ (لا محتوى)"}
NO_CONTEXT = "—"


def labeling_config(classes: Sequence[str]) -> str:
    """Right-to-left config: title, the paragraph before, the paragraph (highlighted), the one after,
    then one single choice among the classes and ``skip``."""
    choices = "\n".join(
        f'    <Choice value="{c}" hint={quoteattr(ARABIC_NAMES.get(c, c))} html={quoteattr(f"<b>{ARABIC_NAMES.get(c, c)}</b> <code>{c}</code>")}/>'
        for c in [*classes, SKIP]
    )
    return f"""<View style="direction: rtl; text-align: right; font-size: 17px; line-height: 1.7">
  <Header value="$title" size="4"/>
  <Text name="before" value="$before" style="color: #777"/>
  <View style="background: #fff7d6; border-right: 5px solid #d4a017; padding: 6px 10px; margin: 6px 0">
    <Text name="{TO_NAME}" value="$text"/>
  </View>
  <Text name="after" value="$after" style="color: #777"/>
  <View style="direction: ltr; text-align: left; color: #555; font-size: 13px">
    <Text name="hint" value="$model_hint"/>
  </View>
  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single-radio" showInline="true" required="true">
{choices}
  </Choices>
</View>
"""


def build_task(c: Candidate, paragraphs: list[str] | None, title: str | None, url: str | None, model_version: str,
               level: str = "paragraph") -> dict[str, Any]:
    """One Label Studio task: the text with its context and provenance, and the model's guess as a
    pre-annotation (a `prediction`, never an annotation: it is not a label until someone submits it)."""
    before = paragraphs[c.index - 1] if paragraphs and level == "paragraph" and c.index > 0 else NO_CONTEXT
    after = paragraphs[c.index + 1] if paragraphs and level == "paragraph" and c.index + 1 < len(paragraphs) else NO_CONTEXT
    ranked = sorted(c.probs.items(), key=lambda kv: -kv[1])
    hint = "model: " + ", ".join(f"{k} {v:.2f}" for k, v in ranked[:3])
    if c.lexicon_label and c.disagrees:
        hint += f" | lexicon: {c.lexicon_label}"
    data = {"text": c.text, "title": title or c.article_id, "before": before, "after": after, "model_hint": hint,
            "article_id": c.article_id, "paragraph_hash": c.key if level == "paragraph" else None,
            "paragraph_index": c.index, "level": level, "source": c.source, "url": url,
            "model_scores": c.probs, "margin": round(c.margin, 4), "lexicon_label": c.lexicon_label}
    prediction = {"model_version": model_version, "score": round(max(c.probs.values()), 4) if c.probs else None,
                  "result": [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
                              "value": {"choices": [c.model_label]}}]}
    return {"data": data, "predictions": [prediction]}


@dataclass
class ExportedLabel:
    """A human label read from an export: one per task whose annotators agree."""

    task_id: Any
    article_id: str
    paragraph_hash: str | None
    level: str
    label: str
    text: str
    annotators: list[str]
    annotated_at: str | None
    annotation_ids: list[Any]


def _annotator(a: dict[str, Any]) -> str:
    who = a.get("completed_by")
    if isinstance(who, dict):
        return str(who.get("email") or who.get("username") or who.get("id"))
    return f"label-studio-user:{who}" if who is not None else "unknown"


def _choices(a: dict[str, Any]) -> list[str]:
    """The topics an annotation chose (one, unless the annotation is malformed)."""
    out: list[str] = []
    for r in a.get("result") or []:
        value = r.get("value") if isinstance(r, dict) else None
        if r.get("from_name") == FROM_NAME and r.get("type") == "choices" and isinstance(value, dict):
            choices = value.get("choices")
            out += [str(c) for c in choices] if isinstance(choices, list) else [str(choices)] if choices else []
    return out


def _malformed(t: Any) -> str | None:
    """What makes a task unreadable, or None: the shapes Label Studio exports."""
    if not isinstance(t, dict):
        return f"a task must be a JSON object, not {type(t).__name__}"
    if not isinstance(t.get("data", {}), dict):
        return "its 'data' is not an object"
    if not isinstance(t.get("id"), (str, int, type(None))):
        return "its 'id' is not a number"
    for key in ("article_id", "paragraph_hash"):
        if not isinstance(t.get("data", {}).get(key), (str, int, type(None))):
            return f"its data.{key} is not a string"
    annotations = t.get("annotations") or []
    if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
        return "its 'annotations' is not a list of objects"
    for a in annotations:
        if not isinstance(a.get("result") or [], list) or not all(isinstance(r, dict) for r in a.get("result") or []):
            return "an annotation's 'result' is not a list of objects"
    return None


def read_export(tasks: Any) -> tuple[list[ExportedLabel], list[str]]:
    """Gold labels from submitted human annotations only (``predictions`` are never read here);
    cancelled (skipped) annotations and tasks without any are left out. Messages say what was dropped:
    a malformed task, an annotation with several choices, annotators who disagree."""
    if not isinstance(tasks, list):
        raise ValueError(f"a Label Studio export is a JSON list of tasks, not {type(tasks).__name__}")
    labels, notes = [], []
    for k, t in enumerate(tasks):
        problem = _malformed(t)
        if problem:
            notes.append(f"task #{k + 1} of the export: {problem}; not imported")
            continue
        data = t.get("data", {})
        name = f"task {t.get('id')} ({data.get('article_id')}#{data.get('paragraph_hash') or 'article'})"
        done = [(a, _choices(a)) for a in t.get("annotations") or [] if not a.get("was_cancelled")]
        done = [(a, c) for a, c in done if c]
        if not done:
            continue
        several = [c for _, c in done if len(c) > 1]
        if several:
            notes.append(f"{name}: an annotation chose several topics ({', '.join(several[0])}); not imported, "
                         "keep one in Label Studio")
            continue
        choices = {c[0] for _, c in done}
        if len(choices) > 1:
            notes.append(f"{name}: annotators disagree ({', '.join(sorted(choices))}); not imported, resolve it in Label Studio")
            continue
        times = sorted(str(a.get("updated_at") or a.get("created_at") or "") for a, _ in done)
        labels.append(ExportedLabel(t.get("id"), str(data.get("article_id")), data.get("paragraph_hash"),
                                    data.get("level") or "paragraph", choices.pop(), str(data.get("text") or ""),
                                    sorted({_annotator(a) for a, _ in done}), times[-1] or None, [a.get("id") for a, _ in done]))
    return labels, notes
