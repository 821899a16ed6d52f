"""Batch labeling on Apache Spark: the same model and row code as `mihwar predict`, on a cluster.

The driver resolves the model (folder or MLflow URI), checks it loads, ships the
folder to every executor with ``SparkContext.addFile``, reads Parquet/JSONL/CSV
from any path Spark reads, labels rows with ``mapInPandas`` over
`predict.spark_worker` and writes Parquet partitioned as the input was.
pyspark is imported only here and only when called (the ``spark`` extra).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from predict.batch import BatchOptions
from predict.readers import InputError
from predict.spark_worker import BLOCK, CONTENT, FILE, ROW, WorkerSpec, make_mapper

FORMATS = ("jsonl", "csv", "parquet")
CSV_MAX_BYTES = 2**31 - 1  # Spark's binaryFile source reads files up to this size, each whole in one task
_PARTITION_DIR = re.compile(r"^([^=/]+)=([^/]*)$")


class SparkUnavailable(RuntimeError):
    """pyspark is not installed, or Java cannot be started."""


@dataclass
class SparkSummary:
    rows: int = 0
    counts: Counter = field(default_factory=Counter)
    errors: int = 0
    partition_by: list[str] = field(default_factory=list)
    seconds: float = 0.0
    output: str = ""

    def render(self) -> str:
        parts = f", partitioned by {', '.join(self.partition_by)}" if self.partition_by else ""
        return "\n".join([f"labeled {self.rows - self.errors} of {self.rows} row{'' if self.rows == 1 else 's'} in "
                          f"{self.seconds:.1f}s; output: {self.output} (Parquet{parts})",
                          "per label: " + (", ".join(f"{k}={v}" for k, v in sorted(self.counts.items())) or "none"),
                          f"could not label: {self.errors} (see the error column)"])

    @property
    def exit_code(self) -> int:
        from predict.labeling import exit_status

        return exit_status(self.rows - self.errors, self.errors)


def spark_session(master: str | None = None):
    """The active session; a local one (all cores) when not launched by spark-submit and no master is named."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailable("pyspark is not installed: pip install 'mihwar[spark]' (needs Java 17+)") from None
    builder = SparkSession.builder.appName("mihwar spark-label")
    if master or "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers use this venv
        builder = builder.master(master or "local[*]").config("spark.ui.showConsoleProgress", "false")
    try:
        return builder.getOrCreate()
    except Exception as exc:  # JAVA_GATEWAY_EXITED and friends
        raise SparkUnavailable(f"Spark could not start (is Java 17+ installed and JAVA_HOME set?): {exc}") from exc


def input_format(path: str, fmt: str | None) -> str:
    """The input's format: as named, else from the path's suffix, else from a local folder's files."""
    if fmt:
        if fmt not in FORMATS:
            raise InputError(f"--input-format {fmt!r}: choose one of {', '.join(FORMATS)}")
        return fmt
    suffix = Path(path.rstrip("/")).suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    if Path(path).is_dir():
        found = {p.suffix.lower().lstrip(".") for p in Path(path).rglob("*") if p.is_file()} & set(FORMATS)
        if len(found) == 1:
            return found.pop()
    raise InputError(f"{path}: cannot tell its format; name it with --input-format ({', '.join(FORMATS)})")


def _reader(spark, path: str, fmt: str):
    """A fresh reader; for a folder, only its files of that format."""
    reader = spark.read
    if Path(path.rstrip("/")).suffix.lower().lstrip(".") != fmt:
        reader = reader.option("pathGlobFilter", f"*.{fmt}")
    return reader


def read_input(spark, path: str, fmt: str, opts: BatchOptions):
    """Input rows with where each came from (file, split start, row id); JSONL stays raw lines, CSV whole files."""
    from pyspark.sql import functions as F

    if fmt == "csv":
        return read_csv_files(spark, path, opts)
    if fmt == "jsonl":  # parsed in Python, so a broken line or a non-string text is reported as on one machine
        df = _reader(spark, path, fmt).text(path)
    else:
        df = _reader(spark, path, fmt).parquet(path)
    df = df.select("*", F.col("_metadata.file_path").alias(FILE), F.col("_metadata.file_block_start").alias(BLOCK),
                   F.monotonically_increasing_id().alias(ROW))
    if fmt == "parquet":
        if opts.text_column not in df.columns:
            raise InputError(f"{path}: no {opts.text_column!r} column (columns: {df.columns[:-3]}); name it with --text-column")
        if opts.id_column in df.columns:  # ids are text in every output
            df = df.withColumn(opts.id_column, F.col(opts.id_column).cast("string"))
    return df


def read_csv_files(spark, path: str, opts: BatchOptions):
    """One row per CSV file, its bytes in ``content``, parsed on the executor by `mihwar predict`'s CSV reader.

    A CSV record may span lines, so a file cannot be split and its rows can only be
    numbered by physical line from its start; reading it whole in Python gives the
    same rows, line numbers and error messages as on one machine. The header is
    checked here first (Spark reads only the first record), so a missing text
    column stops the job before any work, as `mihwar predict` does.
    """
    from pyspark.sql import functions as F

    header = _reader(spark, path, "csv").options(header=True, multiLine=True, escape='"').csv(path).columns
    columns = [c.lstrip("\ufeff") for c in header]  # a UTF-8 BOM in the header
    if opts.text_column not in columns:
        raise InputError(f"{path}: no {opts.text_column!r} column (columns: {columns}); name it with --text-column")
    df = _reader(spark, path, "csv").format("binaryFile").load(path)
    df = df.select("*", F.col("_metadata.file_path").alias(FILE))
    too_big = df.where(F.col("length") > CSV_MAX_BYTES).select(FILE, "length").limit(3).collect()
    if too_big:
        raise InputError(f"{too_big[0][FILE]}: {too_big[0]['length']} bytes; Spark reads each CSV file whole, "
                         f"up to {CSV_MAX_BYTES} bytes: split it into smaller files or convert it to Parquet or JSONL")
    return df


def partition_columns(df) -> list[str]:
    """Columns that come from ``key=value`` folders in every input file's path (Hive-style partitioning)."""
    keys = None
    for uri in df.inputFiles():
        found = {m.group(1) for part in uri.split("/")[:-1] if (m := _PARTITION_DIR.match(part))}
        keys = found if keys is None else keys & found
    return [c for c in df.columns if c in (keys or set())]


def line_starts(df, first: int) -> dict[tuple[str, int], int]:
    """(file, split start) -> number to add to a row id to get its line/row number in its file.

    Spark's row ids are consecutive within a split but not across splits, so one
    small aggregation counts the rows of each split and lays them end to end.
    """
    from pyspark.sql import functions as F

    stats = df.groupBy(FILE, BLOCK).agg(F.min(ROW).alias("lo"), F.count(F.lit(1)).alias("n")).collect()
    per_file: dict[str, list[Any]] = defaultdict(list)
    for s in stats:
        per_file[s[FILE]].append(s)
    starts = {}
    for file, splits in per_file.items():
        line = first
        for s in sorted(splits, key=lambda s: s[BLOCK]):
            starts[(file, s[BLOCK])] = line - s["lo"]
            line += s["n"]
    return starts


def output_schema(spec: WorkerSpec, df):
    """The single-machine Parquet columns (scores as ``score.<class>`` doubles), then partition columns."""
    from pyspark.sql.types import BooleanType, DoubleType, StringType, StructField, StructType

    types = {"id": StringType(), "label": StringType(), "confidence": DoubleType(), "not_arabic": BooleanType(), "error": StringType()}
    fields = [StructField(c, types.get(c, DoubleType())) for c in spec.columns]
    return StructType(fields + [df.schema[c] for c in spec.keep])


def ship_model(spark, model_uri: str) -> tuple[str, list[str]]:
    """Resolve and load the model on the driver (fail before any work), ship its folder to the executors."""
    from predict.artifact import load_model, resolve_model_dir

    folder = resolve_model_dir(model_uri).resolve()
    classes = load_model(str(folder)).classes
    spark.sparkContext.addFile(str(folder), recursive=True)
    return folder.name, classes


def run_spark_label(spark, input_path: str, output: str, model_uri: str, opts: BatchOptions, *,
                    fmt: str | None = None, overwrite: bool = False) -> SparkSummary:
    """Label every row of ``input_path`` into Parquet at ``output``; one output row per input row."""
    start = time.perf_counter()
    fmt = input_format(input_path, fmt)
    model_file, classes = ship_model(spark, model_uri)
    df = read_input(spark, input_path, fmt, opts)
    keep = partition_columns(df)
    spec = WorkerSpec(fmt, classes, opts, keep, line_starts(df, first=1) if fmt != "csv" else {})
    needed = {"jsonl": ["value"], "csv": [CONTENT]}.get(fmt) or [c for c in (opts.text_column, opts.id_column) if c in df.columns]
    rows = df.select(*dict.fromkeys(needed + keep + [c for c in (FILE, BLOCK, ROW) if c in df.columns]))
    labeled = rows.mapInPandas(make_mapper(model_file, spec), output_schema(spec, df))
    labeled.write.mode("overwrite" if overwrite else "errorifexists").partitionBy(*keep).parquet(output)
    summary = SparkSummary(partition_by=keep, output=output)
    from pyspark.sql import functions as F

    for r in spark.read.parquet(output).groupBy("label", F.col("error").isNull().alias("ok")).count().collect():
        summary.rows += r["count"]
        if r["ok"]:
            summary.counts[r["label"]] += r["count"]
        else:
            summary.errors += r["count"]
    summary.seconds = time.perf_counter() - start
    return summary
