"""MLflow pyfunc flavour of a mihwar artifact: ``mlflow.pyfunc.load_model(uri).predict(df)``.

Imported only where MLflow is wanted (logging a run, ``mlflow models serve``).
"""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd


class MihwarPyfunc(mlflow.pyfunc.PythonModel):
    """Scores a DataFrame with a ``text`` column: label, confidence, one ``score.<class>`` column each."""

    def load_context(self, context):
        from predict.artifact import PYFUNC_ARTIFACT, load_model

        self.model = load_model(context.artifacts[PYFUNC_ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """One row per text; a text with nothing to label gets nulls and an ``error``, never NaN (invalid JSON)."""
        if "text" not in model_input.columns:
            raise ValueError(f"input needs a 'text' column; got {list(model_input.columns)}")
        texts = ["" if t is None or (isinstance(t, float) and t != t) else str(t) for t in model_input["text"]]
        labeled = [i for i, t in enumerate(texts) if t.strip()]
        preds = dict(zip(labeled, self.model.predict_articles([texts[i] for i in labeled])))
        columns = ["label", "confidence", *(f"score.{c}" for c in self.model.classes), "error"]
        rows = [{"label": p.label, "confidence": p.confidence, **{f"score.{c}": s for c, s in p.scores.items()}, "error": None}
                if (p := preds.get(i)) else {"error": "empty text: nothing to label"} for i in range(len(texts))]
        frame = pd.DataFrame(rows, columns=columns)
        if len(labeled) < len(texts):  # object columns keep None as JSON null instead of NaN
            frame = frame.astype(object).where(frame.notna(), None)
        return frame
