"""`mihwar` command line: thin commands over the stage workers.

Imports are lazy: `mihwar predict` never loads the training code, MLflow,
torch or datasets unless the model URI needs them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

from predict.limits import MAX_CHARS

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="Topic classifier for Arabic news on US policy in Syria.")

ConfigArg = typer.Argument(..., help="YAML config in configs/", exists=False)
SetOpt = typer.Option([], "--set", help="override a config key: --set model.C_grid=[1,3]")
JobsOpt = typer.Option(None, "--jobs", min=1, show_default="all cores",
                       help="processes that fit cross-validation folds in parallel (the model does not depend on it)")
TrackingOpt = typer.Option(None, "--tracking-uri",
                           help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db in the project root)")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"mihwar {version('mihwar')}")
        raise typer.Exit()


@app.callback()
def _main(show_version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                            help="print the version and exit")) -> None:
    """Topic classifier for Arabic news on US policy in Syria."""


def _use_store(tracking_uri: str | None) -> None:
    """Labeling commands resolve registry URIs in this store (read by predict.model_uri)."""
    if tracking_uri:
        import os

        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri


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
    if "train.parallel" in sys.modules:
        from train.parallel import FoldWorkerLost

        errors.append(FoldWorkerLost)
    if "train.label_studio_api" in sys.modules:
        from train.label_studio_api import LabelStudioError

        errors.append(LabelStudioError)
    if "predict.hf_backend" in sys.modules:
        from predict.hf_backend import PretrainedModelNotFound

        errors.append(PretrainedModelNotFound)
    return tuple(errors)


@app.command()
def prepare(config: Path = ConfigArg, set_: List[str] = SetOpt) -> None:
    """Build the labeled dataset from raw articles, annotations and extra sources."""
    from train.duplicates import KEY_CHARS
    from train.prepare import run_prepare

    counts, unlabeled, copies = run_prepare(_load(config, set_), str(config))
    if copies:
        typer.echo(f"note: {len(copies)} articles left out as copies of another article's text (the same first "
                   f"{KEY_CHARS} letters of the text or of its body; listed in copies_left_out.json beside the dataset)",
                   err=True)
    for c in [c for c in copies if c.left_out_origin != c.kept_origin]:
        typer.echo(f"note: {c.left_out_origin}/{c.left_out} is a copy of {c.kept_origin}/{c.kept}, which is kept: "
                   f"its labels are not used", err=True)
    if unlabeled:
        typer.echo(f"warning: {unlabeled} corpus paragraphs have no annotation (list them: mihwar annotate {config})", err=True)
    for split, c in counts.items():
        typer.echo(f"{split}: " + ", ".join(f"{k}={v}" for k, v in c.items()) + f" (total {sum(c.values())})")


@app.command()
def annotate(config: Path = ConfigArg, set_: List[str] = SetOpt) -> None:
    """Print annotation rows (empty label) for corpus paragraphs nobody labeled yet."""
    import json

    from predict.text import paragraph_hash, segment_article
    from train.prepare import read_corpora, unlabeled_paragraphs

    cfg = _load(config, set_)
    if not cfg.data.corpora:
        fail(f"{config}: data.corpora is empty; nothing to annotate")
    articles, annotations = read_corpora(cfg)
    missing = unlabeled_paragraphs(articles, annotations)
    for article_id, index in missing:
        p = segment_article(articles[article_id].text)[index]
        typer.echo(json.dumps({"article_id": article_id, "paragraph_hash": paragraph_hash(p), "label": "", "text": p},
                              ensure_ascii=False))
    typer.echo(f"{len(missing)} corpus paragraphs have no label" + (" (rows above, on stdout)" if missing else
               "; nothing to annotate (`mihwar add` brings new articles in)"), err=True)


@app.command()
def train(config: Path = ConfigArg, set_: List[str] = SetOpt, tracking_uri: Optional[str] = TrackingOpt,
          jobs: Optional[int] = JobsOpt) -> None:
    """Cross-validate, calibrate and fit a model; log the run to MLflow."""
    from train.train import run_train

    _refuse_prepare_keys(set_, "train")
    cfg = _load(config, set_)
    summary = _stoppable(lambda: run_train(cfg, str(config), tracking_uri, jobs),
                         f": training stopped before its summary and its MLflow run is marked FAILED; if it stopped while "
                         f"saving, {cfg.model_dir} may be incomplete: train again")
    for line in summary:
        typer.echo(line)


PREPARE_KEYS = ("data.corpora", "data.sources", "data.granularity")


def _refuse_prepare_keys(overrides: List[str], command: str) -> None:
    """An override only `prepare` reads: `train` and `evaluate` read the prepared dataset, so it would be ignored
    while the model's meta.json recorded it."""
    for item in overrides:
        key = item.partition("=")[0].strip()
        if key == "data" or key.startswith(PREPARE_KEYS):  # the whole section holds them too
            fail(f"--set {key}: {command} reads the dataset `mihwar prepare` wrote (data.dataset_dir), so this would be "
                 f"ignored; give it to `mihwar prepare` first, with another data.dataset_dir to keep both")


@app.command()
def evaluate(config: Path = ConfigArg, set_: List[str] = SetOpt, tracking_uri: Optional[str] = TrackingOpt,
             jobs: Optional[int] = JobsOpt) -> None:
    """Write metrics, plots and the misclassified table for the trained model."""
    from train.evaluate import run_evaluate

    _refuse_prepare_keys(set_, "evaluate")
    cfg = _load(config, set_)
    for line in _stoppable(lambda: run_evaluate(cfg, tracking_uri, jobs),
                           f": evaluation stopped; {cfg.reports_dir} may hold part of its reports: run it again"):
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
    from train.tracking import RegistryError, promote as do_promote

    if recall_floor is not None and not 0 <= recall_floor <= 1:  # NaN too: `recall < nan` is never true, the gate was off
        fail(f"--recall-floor {recall_floor}: a recall between 0 and 1")
    try:
        ok, reason, v = do_promote(name, version, recall_floor, [t for t in topics.split(",") if t] if topics else None,
                                   tracking_uri)
    except RegistryError as exc:
        fail(str(exc))
    typer.echo(f"{name} v{v}: {'promoted to @champion' if ok else 'not promoted'}: {reason}")
    if not ok:
        raise typer.Exit(1)


class Terminated(KeyboardInterrupt):
    """SIGTERM during a batch or a training: it stops as on Ctrl-C (a batch keeps its journal and releases its
    output lock; a training stops its fold workers), with exit status 143."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def _stoppable(work: Callable[[], Any], after: str | Callable[[], str]) -> Any:
    """``work()`` with SIGTERM handled as Ctrl-C is: one line ("interrupted" + AFTER), exit 130 or 143, no traceback.

    typer would turn Ctrl-C into a silent exit 130, and SIGTERM would end the process before
    a batch kept its journal or `train.parallel` stopped its fold workers."""
    import signal

    previous = signal.signal(signal.SIGTERM, _terminate)  # a scheduler's stop
    try:
        return work()
    except KeyboardInterrupt as exc:
        _stopping()
        stopped = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        typer.echo(stopped + (after() if callable(after) else after), err=True)
        raise typer.Exit(143 if isinstance(exc, Terminated) else 130) from None
    finally:
        if signal.getsignal(signal.SIGTERM) is _terminate:
            signal.signal(signal.SIGTERM, previous)


def _stopping() -> None:
    """Once the process is stopping, further Ctrl-C and SIGTERM are ignored: the work is stopped already, and one
    arriving while Python shut down printed an "Exception ignored" traceback (from `threading` or the progress
    bar) or killed the process with a status other than the one its message gave (an adversarial pass)."""
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


@app.command()
def predict(
    inputs: List[str] = typer.Argument(..., metavar="INPUTS", help="files, folders or - (JSONL on stdin)"),
    output: str = typer.Option("-", "--output", "-o", metavar="PATH", help="output file (.jsonl, .csv or .parquet), or - for stdout"),
    model: Optional[str] = typer.Option(None, "--model", "-m", metavar="MODEL",
                                        help="model folder, runs:/ID/model or models:/NAME@champion (default: $MIHWAR_MODEL, "
                                             "else the registry's champion, else models/default)"),
    fmt: Optional[str] = typer.Option(None, "--format", help="jsonl, csv or parquet (default: from the output name)"),
    paragraphs: bool = typer.Option(False, "--paragraphs", is_flag=True, metavar="", help="add per-paragraph topics and scores"),
    explain: bool = typer.Option(False, "--explain", is_flag=True, metavar="", help="add the n-grams and terms that pushed the decision, and the scope gate's verdict"),
    resume: bool = typer.Option(False, "--resume", is_flag=True, metavar="", help="continue an interrupted batch into the same output"),
    text_column: str = typer.Option("text", help="text column of JSONL/CSV/Parquet inputs"),
    id_column: str = typer.Option("id", help="id column of JSONL/CSV/Parquet inputs"),
    max_chars: int = typer.Option(MAX_CHARS, min=1, help="articles longer than this are reported, not labeled"),
    chunk_size: int = typer.Option(256, min=1, help="articles scored per batch"),
    workers: int = typer.Option(None, min=1, show_default="all cores",
                                help="processes that score in parallel (at most the cores this process may use)"),
    tracking_uri: Optional[str] = TrackingOpt,
) -> None:
    """Label articles; one output row per input article, errors included.

    Exit status: 0 every article labeled; 3 some could not be (their rows carry an
    "error"); 4 none was labeled; 2 the batch could not start (bad option, input,
    output or model); 130 interrupted, 143 terminated (--resume continues).
    """
    _use_store(tracking_uri)
    from predict.batch import BatchOptions, run_batch

    opts = BatchOptions(output=output, fmt=fmt, paragraphs=paragraphs, explain=explain, resume=resume,
                        text_column=text_column, id_column=id_column, max_chars=max_chars, chunk_size=chunk_size,
                        workers=workers or 0)
    from predict.pool import HelperDied
    from predict.writers import StdoutGone, silence

    def kept() -> str:  # stopped before the journal was opened (still checking the inputs), there is nothing to resume
        if output == "-":
            return ""
        if not Path(f"{output}.partial").exists():
            return f"; nothing was written to {output} yet"
        stdin = " (rows read from stdin are not read again: save stdin to a file and give that instead of -)"
        return (f"; the rows written so far are kept in {output}.partial: the same command with --resume continues where "
                "it stopped" + (stdin if "-" in inputs else ""))
    try:
        summary = _stoppable(lambda: run_batch(inputs, model, opts), kept)
    except StdoutGone:  # `-o - | head`: the reader has what it wanted; no message, as Unix tools do
        silence(sys.stdout)
        raise typer.Exit(141) from None
    except HelperDied as exc:
        typer.echo(f"error: {exc}{kept()}", err=True)
        raise typer.Exit(1) from None
    try:
        typer.echo(summary.render(), err=True)
    except OSError:  # stderr closed or full (`2>/dev/full`): the output is written; its exit status still says how
        pass
    from predict.pool import skip_exit_collection

    skip_exit_collection()  # the output is closed: end without Python's last collections (0.2 s with Numba loaded)
    raise typer.Exit(summary.exit_code)


@app.command("spark-label")
def spark_label(
    input_path: str = typer.Argument(..., metavar="INPUT", help="Parquet/JSONL/CSV file or folder, any path Spark reads (hdfs://, s3a://...)"),
    output: str = typer.Argument(..., help="output folder: Parquet, partitioned as the input was"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="model folder, runs:/ID/model or models:/NAME@champion"),
    input_format: Optional[str] = typer.Option(None, help="jsonl, csv or parquet (default: from the input's name or files)"),
    text_column: str = typer.Option("text", help="text column of the input"),
    id_column: str = typer.Option("id", help="id column of the input"),
    max_chars: int = typer.Option(200_000, help="articles longer than this are reported, not labeled"),
    chunk_size: int = typer.Option(256, help="articles scored per model call inside a worker"),
    master: Optional[str] = typer.Option(None, help="Spark master (default: spark-submit's, else local[*])"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing output folder"),
) -> None:
    """Label a table on Apache Spark with the same model and row code as `predict` (needs the spark extra and Java 17+).

    Exit status as `predict`'s: 0 every row labeled; 3 some rows have an error; 4 none was labeled; 2 the job
    could not start."""
    from predict.artifact import default_model_uri
    from predict.batch import BatchOptions
    from predict.spark_label import SparkUnavailable, run_spark_label, spark_session

    opts = BatchOptions(text_column=text_column, id_column=id_column, max_chars=max_chars, chunk_size=chunk_size)
    try:
        spark = spark_session(master)
    except SparkUnavailable as exc:
        fail(str(exc))
    try:
        summary = run_spark_label(spark, input_path, output, model or default_model_uri(), opts, fmt=input_format, overwrite=overwrite)
    except Exception as exc:  # Spark's "path does not exist" / "already exists": one line, not a JVM trace
        if type(exc).__name__ != "AnalysisException":
            raise
        message = str(exc).splitlines()[0]
        fail(message + ("; pass --overwrite to replace it" if "PATH_ALREADY_EXISTS" in message else ""))
    typer.echo(summary.render(), err=True)
    raise typer.Exit(summary.exit_code)


@app.command()
def serve(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="model folder, runs:/ID/model or models:/NAME@champion"),
    host: str = typer.Option("127.0.0.1", help="address to bind"),
    port: int = typer.Option(8000, min=0, max=65535, help="port"),
    workers: Optional[int] = typer.Option(None, help="server processes, each loading the model once (default: $MIHWAR_WORKERS or 1)"),
    tracking_uri: Optional[str] = TrackingOpt,
) -> None:
    """Serve /v1/classify and the analyst page over HTTP."""
    _use_store(tracking_uri)
    from predict.server_run import ServeError, prepare, run

    try:
        _stoppable(lambda: run(*prepare(model, workers), host, port), "")
    except ServeError as exc:
        fail(str(exc))


@app.command()
def add(
    inputs: List[str] = typer.Argument(..., help="files or folders (.txt .html .jsonl .csv .parquet), as `mihwar predict` reads them"),
    config: Path = typer.Option(Path("configs/default.yaml"), "--config", "-c", help="config whose corpora are checked for duplicates"),
    corpus: Path = typer.Option(Path("data/raw/added"), "--corpus", help="folder corpus the articles are written to"),
    text_column: str = typer.Option("text", help="text column of JSONL/CSV/Parquet inputs"),
    id_column: str = typer.Option("id", help="id column of JSONL/CSV/Parquet inputs"),
) -> None:
    """Bring new articles into the corpus: raw text unedited, one id each, duplicates refused."""
    from train.corpus_add import known_articles, plan_additions, read_new_articles, source_texts, write_article
    from train.labeling_corpus import CorpusSpec, corpus_specs, read_labeling_corpus

    cfg = _load(config, [])
    missing = [str(p) for p in [*(c.path for c in cfg.data.corpora if not c.optional), *(s.path for s in cfg.data.sources)]
               if not p.exists()]
    if missing:  # run from another folder: nothing to check duplicates against, and a new corpus folder made there
        fail(f"{config}: {', '.join(missing)} not found from {Path.cwd()}; paths in the config are relative to the "
             "repository root: run mihwar add from there")
    existing = read_labeling_corpus(corpus_specs(cfg) + [CorpusSpec(corpus, Path("/dev/null"))]).articles
    articles, errors = read_new_articles(inputs, text_column, id_column)
    known = {**source_texts(cfg.data.sources), **{k: a.text for k, a in existing.items()}}
    plan, refused = plan_additions(articles, known_articles(known))
    written = 0

    def write_all() -> None:
        nonlocal written
        for aid, article, sha in plan:
            write_article(corpus, aid, article, sha)
            written += 1
            typer.echo(f"added {corpus / (aid + '.txt')}  ({article.source})")

    try:
        _stoppable(write_all, after=" (each article is written whole or not at all); the same command adds the rest: "
                                    "those already added are refused as duplicates")
    except OSError as exc:
        fail(f"{_one_line(exc)}; {written} of {len(plan)} articles added before it, {len(plan) - written} not; the same "
             "command adds the rest once it is fixed")
    for message in errors + refused:
        typer.echo(f"not added: {message}", err=True)
    typer.echo(f"{len(plan)} added, {len(refused) + len(errors)} not added; next: `mihwar suggest` to label them, and "
               f"DVC to share {corpus} (README, \"The labeling loop\")", err=True)
    if errors and not plan:
        raise typer.Exit(1)


@app.command()
def suggest(
    config: Path = typer.Argument(Path("configs/default.yaml"), help="YAML config in configs/"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="model folder, runs:/ID/model or models:/NAME@champion"),
    limit: int = typer.Option(40, "--limit", "-n", min=1, help="how many tasks"),
    seed: int = typer.Option(0, "--seed", help="tie-break seed; the same seed gives the same batch"),
    per_article: int = typer.Option(3, min=1, help="at most this many paragraphs of one article"),
    articles: bool = typer.Option(False, "--articles", help="suggest whole unlabeled articles instead of paragraphs"),
    strategy: str = typer.Option("suggest", help="suggest (uncertainty + lexicon disagreement + spread) or random"),
    output: Path = typer.Option(Path("out/label-studio/tasks.json"), "--output", "-o", help="Label Studio task JSON"),
    to_label_studio: Optional[str] = typer.Option(None, "--to-label-studio", help="also import into this Label Studio (token: $LABEL_STUDIO_API_KEY)"),
    project: str = typer.Option("mihwar topics", "--project", help="Label Studio project title (created if missing)"),
    set_: List[str] = SetOpt,
) -> None:
    """Rank unlabeled paragraphs for annotation; write Label Studio tasks and the labeling config."""
    import json

    from predict.artifact import load_model
    from predict.text import segment_article
    from train.config import load_lexicon
    from train.label_studio import build_task, labeling_config
    from train.labeling_corpus import corpus_specs, display_title, read_labeling_corpus, unlabeled
    from train.suggest import Candidate, paragraph_candidates, rank

    if strategy not in ("suggest", "random"):
        fail(f"--strategy {strategy!r}: use suggest or random")
    cfg = _load(config, set_)
    corpus = read_labeling_corpus(corpus_specs(cfg))
    texts = {aid: a.text for aid, a in corpus.articles.items()}
    todo = unlabeled(texts, corpus.annotations)
    sources = {aid: a.source or "" for aid, a in corpus.articles.items()}
    if articles:
        ids = sorted({aid for aid, _, _ in todo})
        cands = [Candidate(aid, 0, texts[aid], aid, sources[aid]) for aid in ids]
    else:
        cands = paragraph_candidates(todo, sources, texts)
    if not cands:
        fail("every paragraph of the corpora is labeled; add articles first (mihwar add PATH)", 1)
    topic_model = load_model(model)
    lexicon = load_lexicon(cfg.features.lexicon, cfg.data.labels) if cfg.features.lexicon else None
    chosen = rank(cands, topic_model, lexicon, limit, seed, per_article, strategy, whole_articles=articles)
    level = "article" if articles else "paragraph"
    tasks = [build_task(c, None if articles else segment_article(texts[c.article_id]), display_title(corpus.articles[c.article_id]),
                        corpus.articles[c.article_id].url, topic_model.identity, level) for c in chosen]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8")
    config_xml = output.with_name("labeling_config.xml")
    config_xml.write_text(labeling_config(cfg.classes), encoding="utf-8")
    for c in chosen:
        typer.echo(f"{c.article_id}#{c.index}\t{c.model_label}\tmargin={c.margin:.2f}\tlexicon={c.lexicon_label or '-'}\t{c.text[:70]}")
    typer.echo(f"{len(tasks)} of {len(cands)} unlabeled {level}s -> {output} (config: {config_xml}; model {topic_model.identity})", err=True)
    if to_label_studio:
        from train.label_studio_api import LabelStudio

        ls = LabelStudio(to_label_studio)
        proj = ls.ensure_project(project, labeling_config(cfg.classes), "Topics of US policy on Syria; see data/annotations/GUIDELINE.md")
        ls.import_tasks(proj["id"], tasks)
        typer.echo(f"imported {len(tasks)} tasks into {to_label_studio}/projects/{proj['id']}", err=True)


@app.command("import-labels")
def import_labels(
    export: Optional[Path] = typer.Argument(None, help="Label Studio JSON export (omit with --from-label-studio)"),
    config: Path = typer.Option(Path("configs/default.yaml"), "--config", "-c", help="config whose corpora the labels belong to"),
    from_label_studio: Optional[str] = typer.Option(None, "--from-label-studio", help="export straight from this Label Studio URL"),
    project_id: Optional[int] = typer.Option(None, "--project", help="Label Studio project id (with --from-label-studio)"),
    prefer: Optional[str] = typer.Option(None, "--prefer", help="on a conflict with an existing label: new or old (default: keep old, exit 1)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="report only, write nothing"),
) -> None:
    """Human labels from Label Studio -> annotation rows (with annotator, time and task id)."""
    import json

    from train.import_labels import plan_import, write_annotations
    from train.label_studio import read_export
    from train.labeling_corpus import corpus_specs, read_annotation_rows, read_labeling_corpus

    if prefer not in (None, "new", "old"):
        fail(f"--prefer {prefer!r}: use new or old")
    if from_label_studio:
        from train.label_studio_api import LabelStudio

        if project_id is None:
            fail("--from-label-studio needs --project ID")
        tasks = LabelStudio(from_label_studio).export(project_id)
    elif export is not None:
        try:
            tasks = json.loads(export.read_bytes().decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            fail(f"{export}: not UTF-8 ({exc.reason} at byte {exc.start}); export JSON from Label Studio again")
        except (json.JSONDecodeError, RecursionError) as exc:
            fail(f"{export}: not a Label Studio JSON export ({exc if isinstance(exc, json.JSONDecodeError) else 'nested too deeply'})")
    else:
        fail("give an export file or --from-label-studio URL --project ID")
    cfg = _load(config, [])
    specs = corpus_specs(cfg)
    corpus = read_labeling_corpus(specs)
    try:
        labels, notes = read_export(tasks)
    except ValueError as exc:
        fail(f"{export or from_label_studio}: {exc}")
    before = {s.annotations: read_annotation_rows(s.annotations) for s in specs}
    plan = plan_import(labels, {k: a.text for k, a in corpus.articles.items()}, corpus.annotation_file, before,
                       set(cfg.classes) | {"skip"}, prefer)  # type: ignore[arg-type]
    for line in notes + plan.problems + plan.conflicts:
        typer.echo(f"warning: {line}", err=True)
    written = [] if dry_run else write_annotations(plan, before)
    typer.echo(f"{len(tasks)} tasks, {len(labels)} human labels: {plan.added} added, {plan.replaced} replaced, "
               f"{plan.unchanged} already there, {len(plan.problems)} not matched, {len(plan.conflicts)} conflicts"
               + (f"; wrote {', '.join(map(str, written))}" if written else ""))
    if plan.conflicts and prefer is None:
        raise typer.Exit(1)


def main() -> None:
    """Run the CLI; every failure reaches the user as one line naming the problem and the place."""
    import os

    try:
        app()
    except SystemExit as exc:
        if _interrupted_silently(exc):
            _stopping()
            typer.echo("interrupted", err=True)
        raise
    except KeyboardInterrupt:
        _stopping()
        typer.echo("interrupted; `mihwar predict ... --resume` continues a batch where it stopped", err=True)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("MIHWAR_DEBUG"):
            raise
        typer.echo(f"error: {_one_line(exc)}", err=True)
        sys.exit(2 if isinstance(exc, _known_errors() + (OSError,)) else 1)


def _interrupted_silently(exc: SystemExit) -> bool:
    """Whether typer turned a Ctrl-C into this exit: it does so, silently, with exit 130, for one that arrives
    before a command's work is under `_stoppable` (while typer reads the command line, or a command starts)."""
    turned = exc.__context__
    return exc.code == 130 and isinstance(turned, typer.Exit) and isinstance(turned.__cause__, KeyboardInterrupt)


def _one_line(exc: Exception) -> str:
    """The message of a known error; the type, message and place of an unexpected one."""
    if isinstance(exc, _known_errors()):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f" (at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno})" if tb else ""
    if getattr(exc, "where", None):  # raised in a worker process (`train.parallel`), which named the place
        where = f" (at {exc.where})"
    first = (str(exc).splitlines() or [""])[0]
    return f"unexpected {type(exc).__name__}: {first}{where}; set MIHWAR_DEBUG=1 for the traceback"


if __name__ == "__main__":
    main()
