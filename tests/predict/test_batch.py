"""Batch labeling through the real CLI, with real files of every kind."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT, mihwar

SANCTIONS = "أعلنت وزارة الخزانة الأمريكية فرض عقوبات جديدة بموجب قانون قيصر على رجال أعمال مرتبطين بالنظام السوري."
DRUGS = "ضبطت السلطات الأردنية شحنة كبيرة من حبوب الكبتاغون المهربة من سوريا عبر الحدود."


def run_predict(tmp_path, model, *inputs, extra=(), stdin=None, code=None):
    """Rows and stderr of a real `mihwar predict`; exit 0, or 3 when some rows are errors (or ``code``)."""
    out = tmp_path / "out.jsonl"
    proc = mihwar("predict", *map(str, inputs), "--model", str(model), "--output", str(out), *extra, input=stdin, check=False)
    rows = [json.loads(l) for l in out.read_text(encoding="utf-8").splitlines()]
    expected = code if code is not None else (3 if any(r["error"] for r in rows) else 0)
    assert proc.returncode == expected, proc.stderr
    assert "Traceback" not in proc.stderr
    return rows, proc.stderr


def test_every_text_encoding(tmp_path, trained_model_dir):
    d = tmp_path / "in"
    d.mkdir()
    (d / "a_utf8.txt").write_text(SANCTIONS, encoding="utf-8")
    (d / "b_bom.txt").write_bytes(b"\xef\xbb\xbf" + SANCTIONS.encode())
    (d / "c_utf16.txt").write_bytes(SANCTIONS.encode("utf-16"))  # with BOM
    (d / "d_cp1256.txt").write_bytes(SANCTIONS.encode("cp1256"))
    rows, _ = run_predict(tmp_path, trained_model_dir, d)
    assert [Path(r["id"]).name for r in rows] == ["a_utf8.txt", "b_bom.txt", "c_utf16.txt", "d_cp1256.txt"]
    assert all(r["error"] is None for r in rows)
    assert len({json.dumps(r["scores"]) for r in rows}) == 1  # same text -> same scores: no mojibake


def test_bad_inputs_each_get_their_row_and_the_batch_goes_on(tmp_path, trained_model_dir):
    d = tmp_path / "in"
    d.mkdir()
    (d / "1_empty.txt").write_bytes(b"")
    (d / "2_blank.txt").write_text("  \n\t \n", encoding="utf-8")
    (d / "3_binary.txt").write_bytes(bytes(range(256)) * 4)
    (d / "4_latin1.txt").write_bytes("Décision définitive sur les sanctions".encode("latin-1"))
    (d / "5_english.txt").write_text("The Treasury announced new sanctions on Syria.", encoding="utf-8")
    (d / "6_big.txt").write_text(SANCTIONS * 50, encoding="utf-8")
    (d / "7_ok.txt").write_text(DRUGS, encoding="utf-8")
    rows, stderr = run_predict(tmp_path, trained_model_dir, d, extra=("--max-chars", "2000"))
    by = {Path(r["id"]).name: r for r in rows}
    assert by["1_empty.txt"] == {"id": str(d / "1_empty.txt"), "label": None, "confidence": None, "scores": None,
                                 "not_arabic": False, "error": "empty text"}
    assert by["2_blank.txt"]["error"] == "empty text"
    assert by["3_binary.txt"]["error"] == "binary data, not text"
    assert by["4_latin1.txt"]["error"] == "not UTF-8, UTF-16 with BOM, or Windows-1256 Arabic text"
    assert by["5_english.txt"] == {"id": str(d / "5_english.txt"), "label": "other", "confidence": None, "scores": None,
                                   "not_arabic": True, "error": None}
    big = (d / "6_big.txt").stat().st_size  # rejected from its size, before decoding
    assert by["6_big.txt"]["error"] == f"text too long: {big} bytes hold more than the limit of 2000 characters"
    assert by["7_ok.txt"]["label"] == "drugs"
    assert "could not label: 5" in stderr and "3_binary.txt: binary data, not text" in stderr


def test_oversized_file_is_reported(tmp_path, trained_model_dir):
    from predict.batch import BatchOptions, run_batch

    path = tmp_path / "big.txt"
    path.write_text(SANCTIONS * 10, encoding="utf-8")
    out = tmp_path / "o.jsonl"
    run_batch([str(path)], str(trained_model_dir), BatchOptions(output=str(out), max_file_bytes=100))
    [row] = [json.loads(l) for l in out.read_text().splitlines()]
    assert row["error"] == f"file too large: {path.stat().st_size} bytes > limit 100"


def test_tables_html_and_stdin_in_one_batch_keep_order_and_count(tmp_path, trained_model_dir):
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text("\n".join([json.dumps({"id": "j1", "text": SANCTIONS}, ensure_ascii=False), "{not json",
                                json.dumps({"id": "j3"}), json.dumps({"id": "j4", "text": DRUGS}, ensure_ascii=False)]) + "\n",
                     encoding="utf-8")
    csv_path = tmp_path / "b.csv"
    pd.DataFrame({"id": ["c1", "c2"], "text": [DRUGS, None]}).to_csv(csv_path, index=False, encoding="utf-8-sig")
    parquet = tmp_path / "c.parquet"
    pd.DataFrame({"id": ["p1", "p2"], "text": [SANCTIONS, DRUGS]}).to_parquet(parquet)
    html = ROOT / "data/samples/sport_page.html"
    stdin = json.dumps({"id": "s1", "text": DRUGS}, ensure_ascii=False) + "\n"
    rows, stderr = run_predict(tmp_path, trained_model_dir, jsonl, csv_path, parquet, html, "-", stdin=stdin)
    assert [r["id"] for r in rows] == ["j1", f"{jsonl}:2", "j3", "j4", "c1", "c2", "p1", "p2", str(html), "s1"]
    assert rows[1]["error"].startswith("broken JSON line:")
    assert rows[2]["error"] == f"no 'text' value ({jsonl}:3)"
    assert rows[5]["error"] == f"no 'text' value ({csv_path}:3)"
    assert [rows[i]["label"] for i in (0, 3, 4, 6, 7, 9)] == ["sanctions", "drugs", "drugs", "sanctions", "drugs", "drugs"]
    assert rows[8]["error"] is None and rows[8]["label"] == "other"  # menu and footer dropped, sport news is out of scope


def test_html_extraction_drops_page_chrome():
    from predict.readers import html_to_text

    text = html_to_text((ROOT / "data/samples/sport_page.html").read_text(encoding="utf-8"))
    assert "اتصل بنا" not in text and "جميع الحقوق محفوظة" not in text and len(text) > 300


def test_missing_text_column_or_model_fails_before_any_work(tmp_path, trained_model_dir):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,body\n1,x\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    proc = mihwar("predict", str(bad), "--model", str(trained_model_dir), "--output", str(out), check=False)
    assert proc.returncode == 2 and f"error: {bad}: no 'text' column (columns: ['id', 'body'])" in proc.stderr
    assert not out.exists() and not Path(str(out) + ".partial").exists()
    proc = mihwar("predict", str(bad), "--model", str(tmp_path / "nope"), "--output", str(out), check=False)
    assert proc.returncode == 2 and "no such model" in proc.stderr
    ok = mihwar("predict", str(bad), "--text-column", "body", "--model", str(trained_model_dir), "--output", str(out))
    assert ok.returncode == 0


def test_a_registry_model_outside_the_project_names_the_missing_store_and_creates_none(tmp_path):
    """A newcomer ran `mihwar predict ... --model models:/mihwar-topics@champion` outside the project: MLflow
    created an empty store there (and logged that it did), then failed with 'Registered Model ... not found'."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MIHWAR_MODEL")}
    src = tmp_path / "a.txt"
    src.write_text("نص", encoding="utf-8")
    proc = mihwar("predict", str(src), "--model", "models:/mihwar-topics@champion", cwd=tmp_path, env=env, check=False)
    assert proc.returncode == 2 and f"no MLflow store at {tmp_path.resolve() / 'mlruns' / 'mlflow.db'}" in proc.stderr
    assert "--tracking-uri" in proc.stderr and not (tmp_path / "mlruns").exists()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_and_parquet_outputs(tmp_path, trained_model_dir, fmt):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "x", "text": SANCTIONS}, ensure_ascii=False) + "\n{oops\n", encoding="utf-8")
    out = tmp_path / f"out.{fmt}"
    mihwar("predict", str(src), "--model", str(trained_model_dir), "--output", str(out), "--paragraphs", check=False)
    df = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    assert list(df["id"]) == ["x", f"{src}:2"]
    assert df.loc[0, "label"] == "sanctions" and "score.sanctions" in df.columns
    assert json.loads(df.loc[0, "paragraphs"])[0]["label"] == "sanctions"


def test_stdout_output_and_paragraph_and_explain_fields(tmp_path, trained_model_dir):
    text = DRUGS + "\n" + SANCTIONS
    proc = mihwar("predict", "-", "--model", str(trained_model_dir), "--paragraphs", "--explain",
                  input=json.dumps({"id": "mixed", "text": text}, ensure_ascii=False) + "\n")
    [row] = [json.loads(l) for l in proc.stdout.splitlines()]
    assert [p["label"] for p in row["paragraphs"]] == ["drugs", "sanctions"]
    assert row["explanation"] and {"feature", "weight"} <= set(row["explanation"][0])
    assert "labeled 1 of 1 article in" in proc.stderr and "model: " in proc.stderr


def test_resume_continues_without_relabeling_or_duplicating(tmp_path, trained_model_dir):
    from predict.batch import BatchOptions, run_batch

    src = tmp_path / "many.jsonl"
    src.write_text("".join(json.dumps({"id": f"r{i}", "text": (SANCTIONS, DRUGS)[i % 2]}, ensure_ascii=False) + "\n"
                           for i in range(50)), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    # interrupt a real run after its second chunk
    script = (
        "import sys, predict.batch as b\n"
        "orig = b.label_records\n"
        "calls = []\n"
        "def boom(*a, **k):\n"
        "    calls.append(1)\n"
        "    if len(calls) == 3: raise KeyboardInterrupt\n"
        "    return orig(*a, **k)\n"
        "b.label_records = boom\n"
        f"b.run_batch([{str(src)!r}], {str(trained_model_dir)!r}, b.BatchOptions(output={str(out)!r}, chunk_size=10))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode != 0 and not out.exists()
    journal = Path(str(out) + ".partial")
    with open(journal, "a", encoding="utf-8") as f:
        f.write('{"id": "r20", "lab')  # a row torn by the crash
    summary = run_batch([str(src)], str(trained_model_dir), BatchOptions(output=str(out), chunk_size=10, resume=True))
    assert summary.resumed_after == 20 and summary.labeled == 50  # the summary counts the whole output
    rows = [json.loads(l) for l in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(50)]
    assert not journal.exists()


def test_resume_refuses_a_journal_of_another_batch(tmp_path, trained_model_dir):
    from predict.batch import BatchOptions, run_batch
    from predict.writers import OutputError

    out = tmp_path / "out.jsonl"
    Path(str(out) + ".partial").write_text('{"_mihwar_batch": {"inputs": ["other"]}}\n', encoding="utf-8")
    src = tmp_path / "a.txt"
    src.write_text(SANCTIONS, encoding="utf-8")
    with pytest.raises(OutputError, match="belongs to a different batch"):
        run_batch([str(src)], str(trained_model_dir), BatchOptions(output=str(out), resume=True))


def modules_loaded_after(tmp_path, body: str) -> str:
    """Run ``body`` in a fresh interpreter (``SRC`` and ``OUT`` defined) and return its last line."""
    src = tmp_path / "a.txt"
    src.write_text(SANCTIONS, encoding="utf-8")
    code = f"import sys\nSRC, OUT = {str(src)!r}, {str(tmp_path / 'o.jsonl')!r}\n" + body
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return proc.stdout.strip().splitlines()[-1]


def test_labeling_path_imports_no_heavy_framework(tmp_path, trained_model_dir):
    code = (
        "from predict.batch import BatchOptions, run_batch\n"
        f"run_batch([SRC], {str(trained_model_dir)!r}, BatchOptions(output=OUT))\n"
        "print(sorted(m for m in ('mlflow', 'torch', 'transformers', 'datasets', 'train') if m in sys.modules))\n"
    )
    assert modules_loaded_after(tmp_path, code) == "[]"


def test_cli_predict_imports_no_training_code(tmp_path, trained_model_dir):
    code = (
        "from mihwar.cli import app\n"
        f"try: app(['predict', SRC, '--model', {str(trained_model_dir)!r}, '--output', OUT])\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mlflow', 'torch', 'transformers', 'datasets', 'train')))\n"
    )
    assert modules_loaded_after(tmp_path, code) == "[]"


def test_a_big_input_starts_the_compiled_loop_before_the_first_chunk(tmp_path, monkeypatch):
    """Each worker's share decides: 2 MB of input on one worker starts it at once, on two workers it does not;
    a user's MIHWAR_COMPILED_AFTER is left to decide."""
    from predict.batch import EARLY_COMPILE_BYTES, compile_early

    monkeypatch.delenv("MIHWAR_COMPILED_AFTER", raising=False)
    big, small = tmp_path / "big.jsonl", tmp_path / "small.jsonl"
    big.write_bytes(b"x" * EARLY_COMPILE_BYTES)
    small.write_bytes(b"x" * 1000)
    assert compile_early([str(big)], workers=1)
    assert not compile_early([str(big)], workers=2)
    assert compile_early([str(big), str(big)], workers=2)
    assert not compile_early([str(small), "-"], workers=1)
    monkeypatch.setenv("MIHWAR_COMPILED_AFTER", "never")
    assert not compile_early([str(big)], workers=1)


def _csv_rows_by_reopening(data: bytes, opts) -> list[tuple]:
    """The oracle: after a malformed row, open the file again and skip to the line after the row's first line
    (what `read_csv_stream` did until 2026-11-24; each malformed row cost a pass over the file)."""
    import csv
    import io

    from predict.decoding import text_lines
    from predict.tables import _csv_problem, _csv_row

    out, start = [], 2
    while start:
        _, lines = text_lines(io.BytesIO(data), universal=True)
        columns = next(csv.reader([next(lines, "")]), [])
        for _ in range(start - 2):
            next(lines, None)
        reader, restart = csv.reader(lines, strict=True), 0
        while True:
            first = start + reader.line_num
            try:
                values = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                out.append((f"f.csv:{first}", None, f"malformed CSV row at line {first}: {_csv_problem(exc)}; "
                                                     "reading goes on at the next line"))
                restart = first + 1
                break
            if values:
                r = _csv_row(columns, values, f"f.csv:{first}", opts)
                out.append((r.id, r.text, r.error))
        start = restart
    return out


def test_csv_rows_after_malformed_ones_are_read_in_one_pass_as_by_reopening():
    """Each malformed row used to reopen the file and skip to where it was: 16,000 bad rows took 35 s. The lines
    of the row being read are kept and read again instead; the rows and errors are those of the old way."""
    import io
    import random

    from predict.tables import ReadOptions, read_csv_stream

    opts, rng = ReadOptions(), random.Random(13)
    pieces = ['"', ",", "\n", "\r\n", "\r", '""', "ب", "سوريا", "x", " ", "id", "text"]
    for _ in range(2000):
        data = ("id,text\n" + "".join(rng.choices(pieces, k=rng.randint(0, 60)))).encode()
        got = [(r.id, r.text, r.error) for r in read_csv_stream(lambda: io.BytesIO(data), "f.csv", opts)]
        assert got == _csv_rows_by_reopening(data, opts), data
