"""The pyfunc model as code (MLflow "models from code"): logged as this file, so nothing is pickled."""

import mlflow.models

from predict.mlflow_model import MihwarPyfunc

mlflow.models.set_model(MihwarPyfunc())
