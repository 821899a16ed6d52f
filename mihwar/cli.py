"""`mihwar` command line: thin commands over the stage workers.

Imports are lazy: `mihwar predict` never loads the training code, MLflow,
torch or datasets unless the model URI needs them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="Topic classifier for Arabic news on US policy in Syria.")

ConfigArg = typer.Argument(..., help="YAML config in configs/", exists=False)
SetOpt = typer.Option([], "--set", help="override a config key: --set model.C_grid=[1,3]")
TrackingOpt = typer.Option(None, "--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)")


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _load(config: Path, overrides: List[str]):
    from train.config import load_config

    return load_config(config, overrides)


def _known_errors() -> tuple[type[Exception], ...]:
    from predict.artifact import ModelNotFoundError
    from predict.readers import InputError
    from predict.writers import OutputError

    errors: list[type[Exception]] = [ModelNotFoundError, InputError, OutputError]
    if "train.config" in sys.modules:
        from train.config import ConfigError
        from train.prepare import PrepareError

        errors += [ConfigError, PrepareError]
    if "predict.hf_backend" in sys.modules:
        from predict.hf_backend import PretrainedModelNotFound

        errors.append(PretrainedModelNotFound)
    return tuple(errors)


@app.command()
def prepare(config: Path = ConfigArg, set_: List[str] = SetOpt) -> None:
    """Build the labeled dataset from raw articles, annotations and extra sources."""
    from train.prepare import run_prepare

    counts, unlabeled = run_prepare(_load(config, set_), str(config))
    if unlabeled:
        typer.echo(f"warning: {unlabeled} corpus paragraphs have no annotation (list them: mihwar annotate {config})", err=True)
    for split, c in counts.items():
        typer.echo(f"{split}: " + ", ".join(f"{k}={v}" for k, v in c.items()) + f" (total {sum(c.values())})")


@app.command()
def annotate(config: Path = ConfigArg, set_: List[str] = SetOpt) -> None:
    """Print annotation rows (empty label) for corpus paragraphs nobody labeled yet."""
    import json

    from predict.text import paragraph_hash, segment_article
    from train.prepare import read_annotated_corpus, unlabeled_paragraphs

    cfg = _load(config, set_)
    if cfg.data.corpus_dir is None or cfg.data.annotations is None:
        fail(f"{config}: data.corpus_dir/data.annotations are not set; nothing to annotate")
    articles, annotations = read_annotated_corpus(cfg)
    for article_id, index in unlabeled_paragraphs(articles, annotations):
        p = segment_article(articles[article_id])[index]
        typer.echo(json.dumps({"article_id": article_id, "paragraph_hash": paragraph_hash(p), "label": "", "excerpt": p[:80]},
                              ensure_ascii=False))


@app.command()
def train(config: Path = ConfigArg, set_: List[str] = SetOpt, tracking_uri: Optional[str] = TrackingOpt) -> None:
    """Cross-validate, calibrate and fit a model; log the run to MLflow."""
    from train.train import run_train

    cfg = _load(config, set_)
    summary = run_train(cfg, str(config), tracking_uri)
    for line in summary:
        typer.echo(line)


@app.command()
def evaluate(config: Path = ConfigArg, set_: List[str] = SetOpt, tracking_uri: Optional[str] = TrackingOpt) -> None:
    """Write metrics, plots and the misclassified table for the trained model."""
    from train.evaluate import run_evaluate

    for line in run_evaluate(_load(config, set_), tracking_uri):
        typer.echo(line)


@app.command()
def promote(
    name: str = typer.Option("mihwar-topics", help="registered model name"),
    version: Optional[str] = typer.Option(None, help="model version (default: newest)"),
    recall_floor: Optional[float] = typer.Option(None, help="minimum CV recall of every topic (default: the run's evaluation.recall_floor)"),
    topics: Optional[str] = typer.Option(None, help="comma-separated topics the floor applies to (default: the run's data.labels)"),
    tracking_uri: Optional[str] = TrackingOpt,
) -> None:
    """Move the `champion` alias to a model version if it passes the gate."""
    import mlflow

    from train.tracking import promote as do_promote, resolve_tracking_uri

    mlflow.set_tracking_uri(resolve_tracking_uri(tracking_uri))
    ok, reason, v = do_promote(name, version, recall_floor, [t for t in topics.split(",") if t] if topics else None)
    typer.echo(f"{name} v{v}: {'promoted to @champion' if ok else 'not promoted'}: {reason}")
    if not ok:
        raise typer.Exit(1)


@app.command()
def predict(
    inputs: List[str] = typer.Argument(..., help="files, folders or - (JSONL on stdin)"),
    output: str = typer.Option("-", "--output", "-o", help="output file, or - for stdout"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="model folder, runs:/ID/model or models:/NAME@champion"),
    fmt: Optional[str] = typer.Option(None, "--format", help="jsonl, csv or parquet (default: from the output name)"),
    paragraphs: bool = typer.Option(False, "--paragraphs", help="add per-paragraph topics and scores"),
    explain: bool = typer.Option(False, "--explain", help="add the n-grams that pushed the decision"),
    resume: bool = typer.Option(False, "--resume", help="continue an interrupted batch into the same output"),
    text_column: str = typer.Option("text", help="text column of JSONL/CSV/Parquet inputs"),
    id_column: str = typer.Option("id", help="id column of JSONL/CSV/Parquet inputs"),
    max_chars: int = typer.Option(200_000, help="articles longer than this are reported, not labeled"),
    chunk_size: int = typer.Option(256, help="articles scored per batch"),
) -> None:
    """Label articles; one output row per input article, errors included."""
    from predict.batch import BatchOptions, run_batch

    opts = BatchOptions(output=output, fmt=fmt, paragraphs=paragraphs, explain=explain, resume=resume,
                        text_column=text_column, id_column=id_column, max_chars=max_chars, chunk_size=chunk_size)
    summary = run_batch(inputs, model, opts)
    typer.echo(summary.render(), err=True)


@app.command()
def serve(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="model folder, runs:/ID/model or models:/NAME@champion"),
    host: str = typer.Option("127.0.0.1", help="address to bind"),
    port: int = typer.Option(8000, help="port"),
    workers: Optional[int] = typer.Option(None, help="server processes, each loading the model once (default: $MIHWAR_WORKERS or 1)"),
) -> None:
    """Serve /v1/classify and the analyst page over HTTP."""
    from predict.server_run import ServeError, prepare, run

    try:
        settings, loaded = prepare(model, workers)
    except ServeError as exc:
        fail(str(exc))
    run(settings, loaded, host, port)


def main() -> None:
    try:
        app()
    except Exception as exc:  # turn known problems into one clear line, not a traceback
        if isinstance(exc, _known_errors()):
            typer.echo(f"error: {exc}", err=True)
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
