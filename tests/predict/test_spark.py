"""`mihwar spark-label` on a real local Spark session, compared row by row with `mihwar predict`."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT, mihwar

MAX_CHARS = 3000
ENGLISH = "The Treasury announced new sanctions on Syria under the Caesar Act."


def java_problem() -> str | None:
    """Why Spark cannot start here, or None."""
    if not shutil.which("java"):
        return "no java on PATH: Spark needs Java 17+ (make test installs openjdk-17-jre-headless when run as root)"
    out = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    m = re.search(r'version "(?:1\.)?(\d+)', out)
    if not m or int(m.group(1)) < 17:
        return f"Spark 4 needs Java 17+, found: {out.splitlines()[0] if out else 'unknown'}"
    return None


def test_spark_label_module_and_cli_import_no_pyspark():
    code = ("import sys, mihwar.cli, predict.spark_label, predict.spark_worker\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_worker_turns_every_bad_row_into_an_error_row(trained_model_dir):
    """The executor-side function alone, without Spark: one output row per input line."""
    from predict.artifact import load_model
    from predict.batch import BatchOptions
    from predict.spark_worker import BLOCK, FILE, ROW, WorkerSpec, label_frame

    model = load_model(str(trained_model_dir))
    lines = [json.dumps({"id": "ok", "text": article(0)}, ensure_ascii=False), "", "{broken", "[1]",
             json.dumps({"id": 7, "text": ["not", "text"]}), json.dumps({"text": None})]
    pdf = pd.DataFrame({"value": lines, FILE: "file:/data/a%20b.jsonl", BLOCK: 0, ROW: range(10, 16)})
    spec = WorkerSpec("jsonl", model.classes, BatchOptions(), starts={("file:/data/a%20b.jsonl", 0): -9})
    out = label_frame(model, pdf, spec)
    assert list(out.columns) == ["id", "label", "confidence", "not_arabic", "error"] + [f"score.{c}" for c in model.classes]
    assert out["id"].tolist() == ["ok", "/data/a b.jsonl:3", "/data/a b.jsonl:4", "7", "/data/a b.jsonl:6"]
    assert out["error"].tolist()[1:] == ["broken JSON line: Expecting property name enclosed in double quotes at column 2",
                                         "JSON line is not an object", "'text' is list, not text (/data/a b.jsonl:5)",
                                         "no 'text' value (/data/a b.jsonl:6)"]
    assert out["error"][0] is None and out["label"][0] in model.classes


def test_worker_reads_a_csv_file_as_mihwar_predict_does(tmp_path, trained_model_dir):
    """The executor side alone: a whole CSV file's bytes give the rows `read_csv` + `label_records` give."""
    from predict.artifact import load_model
    from predict.batch import BatchOptions, label_records
    from predict.spark_worker import CONTENT, FILE, WorkerSpec, csv_frames
    from predict.tables import ReadOptions, read_csv
    from predict.writers import flat_row

    model = load_model(str(trained_model_dir))
    path = tmp_path / "a b.csv"
    path.write_bytes(f"id,text\nok,{SANCTIONS}\n".encode() + HOSTILE_CSV_ROWS)  # the hostile rows from line 3
    pdf = pd.DataFrame({CONTENT: [path.read_bytes()], FILE: ["file:" + str(path).replace(" ", "%20")], "year": [2021]})
    spec = WorkerSpec("csv", model.classes, BatchOptions(max_chars=MAX_CHARS), keep=["year"])
    out = pd.concat(list(csv_frames(model, pdf, spec)), ignore_index=True)
    expected = [flat_row(r, model.classes)
                for r in label_records(model, list(read_csv(path, ReadOptions())), BatchOptions(max_chars=MAX_CHARS))]
    assert out.drop(columns="year").to_dict("records") == expected
    assert out["year"].tolist() == [2021] * len(expected) and out["year"].dtype == "int64"
    by = out.set_index("id")["error"]
    assert by[f"{path}:9"].startswith("malformed CSV row at line 9: ") and "unterminated quote" in by[f"{path}:9"]
    assert by[f"{path}:10"] == f"no 'text' value ({path}:10)" and by["short-1"] == f"no 'text' value ({path}:4)"
    assert by[f"{path}:6"] == f"undecodable bytes in this row (not valid in the file's encoding) ({path}:6)"
    assert by["after-1"] is None and by["extra-1"] is None and len(out) == 8


SANCTIONS = "فرضت وزارة الخزانة الأمريكية عقوبات جديدة على رجال أعمال سوريين مرتبطين بنظام الأسد بموجب قانون قيصر"
HOSTILE_CSV_ROWS = ("\n"  # line 3: blank, no row
                    "short-1\n"  # line 4: one cell
                    "extra-1,نص عربي عن العقوبات,surplus,cells\n").encode() + (
                    b"bytes-1,\xff\xfe broken\n"  # line 6: not UTF-8
                    b'crlf-1,"a quoted\r\nline in English"\r\n'  # lines 7-8
                    b'unterminated-1,"never closed\n'  # line 9: its quote seems to close on line 11, before a letter
                    b',""\n') + (  # line 10: read again after the malformed row; no id, no text
                    'after-1,"نص عربي\nعلى سطرين"\n').encode()


_PARAGRAPHS: list[str] = []


def article(i: int) -> str:
    """A deterministic article of 1-8 real paragraphs (seed articles and ANT news)."""
    if not _PARAGRAPHS:
        from predict.text import segment_article

        for p in sorted((ROOT / "data/raw/articles").glob("*.txt")):
            _PARAGRAPHS.extend(segment_article(p.read_text(encoding="utf-8")))
        for line in (ROOT / "data/raw/ant/ant_subset.jsonl").read_text(encoding="utf-8").splitlines():
            _PARAGRAPHS.extend(segment_article(json.loads(line)["text"])[:3])
    k = (i * 7) % len(_PARAGRAPHS)
    return "\n".join(_PARAGRAPHS[k:k + 1 + i % 8])


def bad_value(i: int) -> tuple[object, object]:
    """(id, text) of the i-th kind of bad or odd row; ``...`` means the key is absent."""
    kinds = [("empty", ""), ("blank", "  \n\t "), ("missing", ...), ("null", None), ("number", 42), ("list", ["x"]),
             ("english", ENGLISH), ("long", article(3) * 40), (..., article(5)), (None, article(6)), ("", "")]
    rid, text = kinds[i % len(kinds)]
    if rid is None:  # a number as id
        return 100_000 + i, text
    return (f"{rid}-{i}" if rid else rid), text


def jsonl_rows(n: int, seed: int) -> list[str]:
    lines = []
    for i in range(n):
        if i % 40 == 7:
            lines.append("{broken json")
        elif i % 40 == 17:
            lines.append("")
        elif i % 20 == 3:
            rid, text = bad_value(i + seed)
            row = {"id": rid, "text": text} if rid is not ... else {"text": text}
            lines.append(json.dumps({k: v for k, v in row.items() if v is not ...}, ensure_ascii=False))
        else:
            lines.append(json.dumps({"id": f"s{seed}-{i}", "text": article(i + seed)}, ensure_ascii=False))
    return lines


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark", reason="pyspark is not installed (the spark extra; requirements-dev.lock pins it)")
    if problem := java_problem():
        pytest.skip(problem)
    from predict.spark_label import spark_session

    session = spark_session("local[2]")
    session.conf.set("spark.sql.files.maxPartitionBytes", str(512 * 1024))  # several splits per file
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()


def single_machine(tmp_path: Path, model: Path, inputs: Path) -> pd.DataFrame:
    out = tmp_path / "predict.parquet"
    proc = mihwar("predict", str(inputs), "--model", str(model), "--max-chars", str(MAX_CHARS), "--output", str(out), check=False)
    assert proc.returncode == 3, proc.stderr  # some rows are bad on purpose: exit 3, every row written
    return pd.read_parquet(out)


def assert_same_rows(spark_out: pd.DataFrame, local: pd.DataFrame, classes: list[str]) -> None:
    assert spark_out["id"].is_unique and local["id"].is_unique
    assert sorted(spark_out["id"]) == sorted(local["id"])
    a, b = spark_out.set_index("id").sort_index(), local.set_index("id").sort_index()
    for column in ["label", "confidence", "not_arabic", "error"] + [f"score.{c}" for c in classes]:
        left, right = a[column].tolist(), b[column].tolist()
        same = [x == y or (_missing(x) and _missing(y)) for x, y in zip(left, right)]
        assert all(same), f"{column} differs for {[i for i, s in zip(a.index, same) if not s][:5]}"


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def test_spark_matches_predict_row_by_row_on_partitioned_jsonl(tmp_path, spark, trained_model_dir):
    from predict.artifact import load_model
    from predict.batch import BatchOptions
    from predict.spark_label import run_spark_label

    src, n_rows = tmp_path / "in", 0
    for part, seed in (("a", 0), ("b", 5000)):
        (src / f"lang={part}").mkdir(parents=True)
        lines = jsonl_rows(1500, seed)
        (src / f"lang={part}" / "part-0.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        n_rows += sum(bool(line) for line in lines)
    out = tmp_path / "out"
    summary = run_spark_label(spark, str(src), str(out), str(trained_model_dir), BatchOptions(max_chars=MAX_CHARS))
    assert (out / "lang=a").is_dir() and (out / "lang=b").is_dir() and summary.partition_by == ["lang"]
    got = pd.read_parquet(out)
    local = single_machine(tmp_path, trained_model_dir, src)
    assert len(got) == len(local) == n_rows  # a blank line is no row
    assert_same_rows(got.drop(columns="lang"), local, load_model(str(trained_model_dir)).classes)
    errors = set(got["error"].dropna().str.replace(r"\(.*\)|\d+", "", regex=True).str.strip())
    assert {"empty text", "no 'text' value", "'text' is int, not text", "'text' is list, not text",
            "text too long:  characters > limit"} <= errors
    assert got["not_arabic"].sum() > 0 and summary.errors == got["error"].notna().sum()
    # exit status and counts as `mihwar predict` says them (it said "labeled N rows", errors included, and exit 0)
    assert summary.exit_code == 3 and summary.render().startswith(f"labeled {n_rows - summary.errors} of {n_rows} rows in ")
    assert set(got.loc[got["id"].str.startswith("s5000"), "lang"]) == {"b"}


def test_spark_matches_predict_on_parquet_and_csv(tmp_path, spark, trained_model_dir):
    from predict.artifact import load_model
    from predict.batch import BatchOptions
    from predict.spark_label import run_spark_label

    rows = [bad_value(i) if i % 9 == 4 else (f"r{i}", article(i)) for i in range(400)]
    table = pd.DataFrame({"id": [None if r is ... else str(r) for r, _ in rows],
                          "text": [t if isinstance(t, str) else None for _, t in rows],
                          "year": [2020 + i % 2 for i in range(len(rows))]})
    classes = load_model(str(trained_model_dir)).classes
    pq_dir = tmp_path / "pq"
    table.to_parquet(pq_dir, partition_cols=["year"])
    summary = run_spark_label(spark, str(pq_dir), str(tmp_path / "pq_out"), str(trained_model_dir),
                              BatchOptions(max_chars=MAX_CHARS), fmt="parquet")
    got = pd.read_parquet(tmp_path / "pq_out")
    assert summary.partition_by == ["year"] and len(got) == len(table)
    assert_same_rows(got.drop(columns="year"), single_machine(tmp_path, trained_model_dir, pq_dir), classes)

    csv_dir = tmp_path / "csv"  # quoted newlines in the texts, rows without an id, hostile rows, two encodings
    (csv_dir / "year=2020").mkdir(parents=True)
    (csv_dir / "year=2021").mkdir()
    body = table.drop(columns="year")
    head = body.iloc[:200].to_csv(index=False).encode("utf-8-sig")
    main = csv_dir / "year=2020" / "a.csv"
    main.write_bytes(head + HOSTILE_CSV_ROWS + body.iloc[200:].to_csv(index=False, header=False).encode())
    arabic = [(f"w{i}" if i % 3 else None, t) for i in range(40) if _cp1256(t := article(i)) and len(t) < MAX_CHARS]
    pd.DataFrame(arabic, columns=["id", "text"]).to_csv(csv_dir / "year=2021" / "b.csv", index=False, encoding="cp1256")
    summary = run_spark_label(spark, str(csv_dir), str(tmp_path / "csv_out"), str(trained_model_dir),
                              BatchOptions(max_chars=MAX_CHARS))  # the format from the folder's files
    got = pd.read_parquet(tmp_path / "csv_out")
    local = single_machine(tmp_path, trained_model_dir, csv_dir)
    assert summary.partition_by == ["year"] and len(arabic) > 20
    assert len(got) == len(local) == len(table) + 7 + len(arabic)  # 7 hostile rows; a blank line is no row
    assert_same_rows(got.drop(columns="year"), local, classes)  # every row, error messages and FILE:LINE ids included
    by = got.set_index("id")
    malformed = head.count(b"\n") + 7  # the physical line, quoted newlines of earlier rows counted
    assert by.loc[f"{main}:{malformed}", "error"].startswith(f"malformed CSV row at line {malformed}: ")
    assert by.loc[f"{main}:{malformed + 1}", "error"] == f"no 'text' value ({main}:{malformed + 1})"
    assert by.loc[f"{main}:{malformed - 3}", "error"].startswith("undecodable bytes in this row")
    assert by.loc["after-1", "year"] == 2020 and pd.isna(by.loc["after-1", "error"])
    no_id = got[got["id"].str.startswith(str(csv_dir))]  # rows named by their place, as on one machine
    assert len(no_id) == len(local[local["id"].str.startswith(str(csv_dir))]) > 10
    assert set(got.loc[got["id"].str.startswith("w"), "year"]) == {2021}
    assert got.loc[got["year"] == 2021, "error"].isna().all()  # Windows-1256 is read as mihwar predict reads it


def _cp1256(text: str) -> bool:
    try:
        return bool(text.encode("cp1256"))
    except UnicodeEncodeError:
        return False


def test_spark_refuses_a_csv_file_too_big_to_read_whole(tmp_path, spark, trained_model_dir, monkeypatch):
    """A CSV file is read whole by one task: one over the limit stops the job before any work, naming the file."""
    from predict import spark_label
    from predict.batch import BatchOptions
    from predict.readers import InputError

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "small.csv").write_text(f"id,text\na,{SANCTIONS}\n", encoding="utf-8")
    big = tmp_path / "in" / "big.csv"
    big.write_text(f"id,text\nb,{SANCTIONS}\n" * 20, encoding="utf-8")
    monkeypatch.setattr(spark_label, "CSV_MAX_BYTES", 1000)
    with pytest.raises(InputError, match=rf"big\.csv: {big.stat().st_size} bytes; Spark reads each CSV file whole"):
        spark_label.run_spark_label(spark, str(tmp_path / "in"), str(tmp_path / "out"), str(trained_model_dir), BatchOptions())
    assert not (tmp_path / "out").exists()
