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
        if "text" not in model_input.columns:
            raise ValueError(f"input needs a 'text' column; got {list(model_input.columns)}")
        preds = self.model.predict_articles([str(t) for t in model_input["text"]])
        return pd.DataFrame(
            [{"label": p.label, "confidence": p.confidence, **{f"score.{c}": s for c, s in p.scores.items()}} for p in preds]
        )
