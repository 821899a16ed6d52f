"""Batch labeling: inputs -> one row per article -> an output file (or stdout).

The model, the inputs, the output and the table columns are checked before any
work. Each input article gives exactly one row, in input order, and one bad
input never stops the batch: it gets a row with ``error``. Rows go through a
journal, so an interrupted batch resumes where it stopped and nothing is lost.
"""

from __future__ import annotations

import os
import time
from contextlib import closing
from dataclasses import dataclass, replace
from itertools import chain, islice
from pathlib import Path
from typing import Any, Iterator

from predict.labeling import EXPLAIN_TOP, Summary, label_records, make_row  # noqa: F401 - the labeling API
from predict.limits import MAX_CHARS, MAX_FILE_BYTES
from predict.pool import loading
from predict.readers import InputError, ReadOptions, Record, check_tables, expand_inputs, read_all
from predict.writers import OutputError, StreamWriter, check_output, output_format, writable_path

# Input bytes per worker from which each worker starts the compiled loop (`predict.compiled`) before its first
# chunk: the loop takes about 0.7 s to start and saves about 0.4 ms a paragraph, so it pays from about 1,700
# paragraphs (about 1 MB of one-paragraph rows); 2 MB leaves a margin.
# A smaller input keeps the scorers' own rule (NumPy for their first 2,000 texts); MIHWAR_COMPILED_AFTER overrides both.
EARLY_COMPILE_BYTES = 2_000_000
ROW_OPTIONS = ("text_column", "id_column", "max_chars", "max_file_bytes", "paragraphs", "explain")


@dataclass
class BatchOptions:
    output: str = "-"
    fmt: str | None = None
    paragraphs: bool = False
    explain: bool = False
    resume: bool = False
    text_column: str = "text"
    id_column: str = "id"
    max_chars: int = MAX_CHARS
    chunk_size: int = 256
    max_file_bytes: int = MAX_FILE_BYTES
    workers: int = 1  # 0: every core this process may use


def check_options(opts: BatchOptions) -> None:
    for name in ("chunk_size", "max_chars", "workers"):
        if getattr(opts, name) < (0 if name == "workers" else 1):
            raise InputError(f"--{name.replace('_', '-')} {getattr(opts, name)}: must be at least 1")


def worker_count(requested: int) -> tuple[int, str | None]:
    """Processes to score on: ``requested`` (0: all), at most the cores this process may use, and why when fewer.

    More processes than cores only add memory (each loads the model and the compiled loop, about 270 MB)."""
    from predict.cores import usable_cores

    cores = usable_cores()
    if requested and requested > cores:
        return cores, (f"--workers {requested}: at most {cores}, the cores this process may use "
                       "(more would only add memory, about 270 MB each)")
    return requested or cores, None


def batch_header(paths: list[str], model: Any, opts: BatchOptions) -> dict[str, Any]:
    """What decides the rows: the inputs' sizes and modification times, the row options and the model version."""
    return {"journal": 2, "model": model.identity, "inputs": [_fingerprint(p) for p in paths],
            "options": {k: getattr(opts, k) for k in ROW_OPTIONS}}


def _fingerprint(path: str) -> list[Any]:
    try:
        st = os.stat(path) if path != "-" else None
    except OSError:
        st = None
    return [path, st.st_size if st else None, st.st_mtime_ns if st else None]


def compile_early(paths: list[str], workers: int) -> bool:
    """Whether each worker's share of the input files is big enough to start the compiled loop at once."""
    from predict.linear import COMPILED_AFTER_ENV

    if os.environ.get(COMPILED_AFTER_ENV, "").strip():
        return False  # the user chose for this run
    size = sum(st[1] or 0 for st in map(_fingerprint, paths))
    return size >= EARLY_COMPILE_BYTES * workers


def not_yet_written(paths: list[str], read_opts: ReadOptions, done: int) -> Iterator[Record]:
    """The records after the ``done`` ones an interrupted run wrote. Those may come from files, which the journal
    fingerprints, but not from stdin: nothing shows that stdin holds the same articles again."""
    if done and "-" in paths:
        before = paths[:paths.index("-")]
        if sum(1 for _ in islice(read_all(before, read_opts), done)) < done:
            raise InputError(f"--resume: the interrupted run had read {done} articles, some of them from stdin (-), and "
                             "nothing shows that stdin holds them again; save stdin to a file and label that instead")
    return islice(read_all(paths, read_opts), done, None)


def chunks(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while batch := list(islice(records, size)):
        yield batch


def _open_writer(opts: BatchOptions, fmt: str, paths: list[str], model: Any):
    if opts.output == "-":
        return StreamWriter(fmt, model.classes)
    from predict.journal import JournalWriter

    return JournalWriter(writable_path(Path(opts.output)), fmt, model.classes, batch_header(paths, model, opts), opts.resume)


def _labeled_chunks(model: Any, model_dir: str, records: Iterator[Record], opts: BatchOptions,
                    early: bool) -> Iterator[list[dict]]:
    """Rows chunk by chunk, in order; a pool only when there is more than one chunk and more than one worker."""
    parts = chunks(records, opts.chunk_size)
    head = list(islice(parts, 2))
    if opts.workers == 1 or len(head) < 2:
        if early and len(head) == 2:
            with loading():
                model.start_compiled()
        for part in chain(head, parts):
            yield label_records(model, part, opts)
        return
    from predict.pool import label_in_pool

    yield from label_in_pool(chain(head, parts), model, model_dir, opts, opts.workers, early)


def run_batch(inputs: list[str], model_uri: str | None, opts: BatchOptions) -> Summary:
    """Label every input article into ``opts.output``; options, inputs, output and model are checked before any work."""
    from predict.artifact import default_model_uri, load_model, resolve_model_dir
    from predict.progress import progress_bar

    check_options(opts)
    workers, capped = worker_count(opts.workers)
    opts = replace(opts, workers=workers)
    fmt = output_format(opts.output, opts.fmt)
    uri = model_uri or default_model_uri()
    model_dir = str(resolve_model_dir(uri))
    out = None if opts.output == "-" else Path(opts.output)
    paths = expand_inputs(inputs)
    if out:
        paths = check_output(out, inputs, paths)
    read_opts = ReadOptions(opts.text_column, opts.id_column, opts.max_file_bytes, opts.max_chars)
    notes = check_tables(paths, read_opts) + ([capped] if capped else [])
    with loading():
        model = load_model(model_dir)
    writer = _open_writer(opts, fmt, paths, model)
    try:
        summary = Summary(output=opts.output, model_uri=uri, model_identity=model.identity, resumed_after=writer.done,
                          nothing_to_resume=opts.resume and out is not None and not writer.reopened, notes=notes)
        summary.add(writer.earlier())
        start = time.perf_counter()
        records = not_yet_written(paths, read_opts, writer.done)
        bar = progress_bar(paths, initial=writer.done, rows_to_stdout=out is None)
        early = compile_early(paths, opts.workers)
        with closing(_labeled_chunks(model, model_dir, records, opts, early)) as labeled:  # interrupted: pool stopped now
            for rows in labeled:
                writer.write(rows)
                summary.add(rows)
                if bar is not None:
                    bar.update(len(rows))
        if bar is not None:
            bar.close()
        summary.seconds = time.perf_counter() - start
        writer.finish(summary.meta(paths, {k: getattr(opts, k) for k in ROW_OPTIONS}))
    finally:
        writer.close()
    return summary


__all__ = ["BatchOptions", "Summary", "label_records", "make_row", "run_batch", "InputError", "OutputError"]
