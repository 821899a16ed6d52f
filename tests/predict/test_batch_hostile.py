"""Hostile inputs through the real `mihwar predict` (issue 12 items 1-3 and 7, issue 9 item 9).

Each test asserts the batch invariant: one output row per input article, in
order, every failure an ``error`` row with a clear message, no traceback.
"""

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pandas as pd

from tests.conftest import mihwar
from tests.predict.test_batch_runs import wait_for

SANCTIONS = "أعلنت وزارة الخزانة الأمريكية فرض عقوبات جديدة بموجب قانون قيصر على رجال أعمال مرتبطين بالنظام السوري."
DRUGS = "ضبطت السلطات الأردنية شحنة كبيرة من حبوب الكبتاغون المهربة من سوريا عبر الحدود."
DIPLOMACY = "التقى المبعوث الأمريكي الخاص إلى سوريا بوزراء خارجية الدول العربية لبحث تطبيق قرار مجلس الأمن 2254."


def line(**row) -> bytes:
    return (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8", errors="surrogatepass")


def predict(model, *args, stdin: bytes | None = None, code: int | None = None):
    """A real `mihwar predict` process; its exit status and stderr, no traceback allowed."""
    proc = subprocess.run([sys.executable, "-m", "mihwar.cli", "predict", *map(str, args), "--model", str(model)],
                          input=stdin, capture_output=True, timeout=300)
    stderr = proc.stderr.decode("utf-8", errors="replace")
    assert "Traceback" not in stderr, stderr
    if code is not None:
        assert proc.returncode == code, stderr
    return proc, stderr


def read_rows(path):
    return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines()]


def test_one_bad_row_never_stops_the_batch_and_no_row_is_lost(tmp_path, trained_model_dir):
    """Issue 12 items 1 and 3: each of these crashed the batch or swallowed rows."""
    jsonl = tmp_path / "a.jsonl"
    filler = b"".join(line(id=f"f{i}", text=DRUGS) for i in range(500))  # pushes the bad byte past 64 KB
    assert len(filler) > 65536
    jsonl.write_bytes(
        line(id="j1", text=SANCTIONS)
        + b'{"id": "x\\ud800", "text": "' + SANCTIONS.encode() + b'"}\n'  # lone surrogate in an id
        + b'{"id": "j3", "text": "' + SANCTIONS.encode() + b'\\ud800"}\n'  # lone surrogate in text, with --paragraphs
        + b"[" * 100_000 + b"]" * 100_000 + b"\n"  # nested 100,000 deep
        + b'{"id": "j5", "text": ' + b"7" * 5000 + b"}\n"  # a number of 5,000 digits
        + b'{"id": "j6", "text": "a\x00b"}\n'  # one NUL byte in one line
        + b'{"id": "j7", "text": "unterminated\n'
        + filler
        + b'{"id": "j9", "text": "\xff' + SANCTIONS.encode() + b'"}\n'  # undecodable byte after 64 KB
        + line(id="j10", text=DIPLOMACY)
    )
    csv_path = tmp_path / "b.csv"
    csv_path.write_text(f'id,text\nc1,"{SANCTIONS}\nc2,{DRUGS}\nc3,{SANCTIONS}\n', encoding="utf-8")  # unterminated quote
    corrupt = tmp_path / "c.parquet"
    corrupt.write_bytes(b"PAR1" + os.urandom(300) + b"PAR1")
    stdin = line(id="s1", text=DRUGS) + b'{"id": "s\xff2", "text": "' + DRUGS.encode() + b'"}\n'
    out = tmp_path / "out.jsonl"
    _, stderr = predict(trained_model_dir, jsonl, csv_path, corrupt, "-", "--output", out, "--paragraphs",
                        "--chunk-size", "64", stdin=stdin, code=3)
    rows = read_rows(out)
    ids = [r["id"] for r in rows]
    expected = (["j1", "x\ufffd", "j3"] + [f"{jsonl}:{n}" for n in (4, 5, 6, 7)] + [f"f{i}" for i in range(500)]
                + [f"{jsonl}:508", "j10", f"{csv_path}:2", "c2", "c3", str(corrupt), "s1", "stdin:2"])
    assert ids == expected
    by = dict(zip(ids, rows))
    assert by["j1"]["label"] == "sanctions" and by["j10"]["error"] is None and by["f499"]["label"] == "drugs"
    assert "invalid Unicode" in by["x\ufffd"]["error"] and "invalid Unicode" in by["j3"]["error"]
    assert by[f"{jsonl}:4"]["error"] == "JSON line cannot be read: nested too deeply"
    assert by[f"{jsonl}:5"]["error"] == "JSON line cannot be read: a number of more than 4,300 digits"  # not Python's advice
    assert by[f"{jsonl}:6"]["error"].startswith("broken JSON line: Invalid control character")
    assert by[f"{jsonl}:7"]["error"] == "broken JSON line: Unterminated string starting at column 22"  # not "at at"
    assert by[f"{jsonl}:508"]["error"].startswith("undecodable bytes in line 508")
    assert "unterminated quote" in by[f"{csv_path}:2"]["error"] and by["c2"]["label"] == "drugs" and by["c3"]["label"] == "sanctions"
    assert by[str(corrupt)]["error"].startswith("cannot read Parquet")
    assert by["s1"]["label"] == "drugs" and by["stdin:2"]["error"].startswith("undecodable bytes in line 2")
    assert f"could not label: {sum(r['error'] is not None for r in rows)}" in stderr


def test_no_silent_mojibake_and_stdin_decoded_like_files(tmp_path, trained_model_dir):
    """Issue 12 item 2: broken UTF-8 is reported, never re-read as Windows-1256; cp1256 stdin is decoded."""
    d = tmp_path / "in"
    d.mkdir()
    at = len(DIPLOMACY[:20].encode())
    (d / "a_stray_byte.txt").write_bytes(DIPLOMACY[:20].encode() + b"\xff" + DIPLOMACY[20:].encode())
    (d / "b_cp1256.txt").write_bytes(DIPLOMACY.encode("cp1256"))
    (d / "c_utf16_no_bom.txt").write_bytes(DIPLOMACY.encode("utf-16-le"))
    (d / "d_invisible_only.txt").write_text("\u200c\u200d\u200e\u200f\ufeff \u200c", encoding="utf-8")
    (d / "e_utf8.txt").write_text(DIPLOMACY, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    predict(trained_model_dir, d, "--output", out, code=3)
    a, b, c, e, utf8 = read_rows(out)
    assert a["error"] == f"invalid UTF-8 at byte {at} (a broken byte in the text; not re-read as another encoding)"
    assert b["error"] is None and b["scores"] == utf8["scores"]
    assert c["error"] == "UTF-16 without a byte-order mark; save it as UTF-8 (or UTF-16 with BOM)"
    assert e["error"] == "empty text"
    proc, _ = predict(trained_model_dir, "-", stdin=line(id="cp", text=SANCTIONS).decode().encode("cp1256"), code=0)
    [row] = [json.loads(l) for l in proc.stdout.decode().splitlines()]
    assert row["label"] == "sanctions" and row["not_arabic"] is False


def test_invisible_format_characters_are_stripped_in_normalization():
    """Issue 12 item 7: ZWNJ inside words must not change features; every Cf character is covered."""
    from predict.text import is_blank, normalize_arabic

    zwnj = "\u200c".join(SANCTIONS[i : i + 3] for i in range(0, len(SANCTIONS), 3))
    assert normalize_arabic(zwnj) == normalize_arabic(SANCTIONS)
    assert normalize_arabic("\u200fقيصر\u200e\ufeff") == "قيصر"
    cf = "".join(chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf")
    assert is_blank(cf) and normalize_arabic(cf + "ا") == "ا"


def test_edges_are_one_clear_line(tmp_path, trained_model_dir):
    """Issue 12 item 7: chunk size, output under a file, a full disk, a fifo, a huge page."""
    src = tmp_path / "a.jsonl"
    src.write_bytes(b"".join(line(id=f"r{i}", text=SANCTIONS * 20) for i in range(200)))
    for size in ("0", "-1"):
        _, err = predict(trained_model_dir, src, "--output", tmp_path / "o.jsonl", "--chunk-size", size, code=2)
        assert "--chunk-size" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _, err = predict(trained_model_dir, src, "--output", blocker / "o.jsonl", code=2)
    assert err.strip() == f"error: {blocker / 'o.jsonl'}: cannot write: {blocker} is a file, not a folder"
    full = subprocess.run(  # a write limit makes every write past 64 KB fail, as a full disk would
        ["bash", "-c", f"ulimit -f 64; exec {sys.executable} -m mihwar.cli predict {src} --model {trained_model_dir} "
                       f"--output {tmp_path / 'full.jsonl'} --paragraphs"], capture_output=True, text=True, timeout=300)
    assert full.returncode == 2 and "Traceback" not in full.stderr
    assert full.stderr.strip() == f"error: {tmp_path / 'full.jsonl.partial'}: cannot write: File too large"
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    _, err = predict(trained_model_dir, fifo, "--output", tmp_path / "o.jsonl", code=2)
    assert "not a regular file or folder (a named pipe" in err
    page = tmp_path / "huge.html"
    page.write_text("<html><body>" + f"<p>{SANCTIONS}</p>" * 20_000 + "</body></html>", encoding="utf-8")
    _, err = predict(trained_model_dir, page, "--output", tmp_path / "h.jsonl", code=4)
    [row] = read_rows(tmp_path / "h.jsonl")
    assert row["error"].startswith("text too long: the page shows about")  # known before extraction


def test_file_deleted_between_listing_and_reading(tmp_path, trained_model_dir):
    """Issue 12 item 7: listed at start (stdin keeps the batch waiting), gone when its turn comes."""
    doomed = tmp_path / "doomed.txt"
    doomed.write_text(SANCTIONS, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "mihwar.cli", "predict", "-", str(doomed), "--model",
                             str(trained_model_dir), "--output", str(out), "--chunk-size", "1"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(line(id="s1", text=DRUGS))
    proc.stdin.flush()
    wait_for(lambda: out.with_name("out.jsonl.lock").exists())
    doomed.unlink()
    proc.stdin.close()
    assert proc.wait(timeout=120) == 3
    assert "Traceback" not in proc.stderr.read().decode()
    s1, gone = read_rows(out)
    assert s1["label"] == "drugs" and gone == {**gone, "id": str(doomed), "error": "cannot read: No such file or directory"}


def test_csv_and_parquet_outputs_keep_score_columns_and_neutralize_formulas(tmp_path, trained_model_dir):
    """Issue 9 item 9 (score columns when the first row is an error) and issue 12 item 7 (formula injection)."""
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"{oops\n" + line(id="=HYPERLINK(\"http://x\")", text=SANCTIONS) + line(id="+1", text=DRUGS)
                    + line(id="@SUM(A1)", text=DRUGS) + line(id="-2", text=DRUGS))
    for fmt in ("csv", "parquet"):
        predict(trained_model_dir, src, "--output", tmp_path / f"o.{fmt}", code=3)
    df = pd.read_parquet(tmp_path / "o.parquet")
    assert {f"score.{c}" for c in ("drugs", "sanctions", "other")} <= set(df.columns)
    assert df["score.sanctions"].isna().tolist() == [True, False, False, False, False]
    proc, _ = predict(trained_model_dir, src, "--output", "-", "--format", "csv", code=3)
    for text in (proc.stdout.decode(), (tmp_path / "o.csv").read_text(encoding="utf-8")):
        header, *lines = text.splitlines()
        assert "score.sanctions" in header.split(",")
        assert [l.split(",")[0] for l in lines][1:] == ['"\'=HYPERLINK(""http://x"")"', "'+1", "'@SUM(A1)", "'-2"]


def test_unknown_output_extension_and_jsonl_without_text_column_fail_before_work(tmp_path, trained_model_dir):
    """Issue 9 items 6 and 9."""
    src = tmp_path / "in.jsonl"
    src.write_bytes(line(id="a", body=SANCTIONS))
    _, err = predict(trained_model_dir, src, "-o", tmp_path / "a.xlsx", code=2)
    assert "unknown output type .xlsx" in err
    _, err = predict(trained_model_dir, src, "-o", tmp_path / "a.jsonl", code=2)
    assert f"{src}: no 'text' column (columns: ['id', 'body'])" in err
    assert list(tmp_path.iterdir()) == [src]
    predict(trained_model_dir, src, "-o", tmp_path / "a.jsonl", "--text-column", "body", code=0)


def test_a_column_named_twice_is_refused_not_guessed(tmp_path, trained_model_dir):
    """A CSV or Parquet file with two 'text' (or 'id') columns: which one is the text? The readers took the last one,
    silently; now the batch stops before any work and names the columns, and a reader alone (Spark's) gives an
    error row for the file."""
    from predict.tables import ReadOptions, read_csv

    csv_file = tmp_path / "twice.csv"
    csv_file.write_text(f'id,text,notes,text\na,"{SANCTIONS}",x,"{DRUGS}"\n', encoding="utf-8")
    parquet_file = tmp_path / "twice.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table([pa.array(["a"]), pa.array(["b"]), pa.array([SANCTIONS])], names=["id", "id", "text"]),
                   parquet_file)
    _, err = predict(trained_model_dir, csv_file, "-o", tmp_path / "a.jsonl", code=2)
    assert f"{csv_file}: 2 columns are named 'text' (columns 2, 4)" in err and "--text-column" in err
    _, err = predict(trained_model_dir, parquet_file, "-o", tmp_path / "a.jsonl", code=2)
    assert f"{parquet_file}: 2 columns are named 'id' (columns 1, 2)" in err and "--id-column" in err
    assert not (tmp_path / "a.jsonl").exists()
    [record] = read_csv(csv_file, ReadOptions())
    assert record.error.startswith("2 columns are named 'text'") and record.error.endswith("no row can be read")
    predict(trained_model_dir, csv_file, "-o", tmp_path / "a.jsonl", "--text-column", "notes", code=0)  # no guess needed
    # a JSON line with a key twice: json keeps the last one; that line is an error row, the others are labeled
    jsonl = tmp_path / "twice.jsonl"
    jsonl.write_text(f'{{"id": "a", "text": "hello", "text": "{SANCTIONS}"}}\n'
                     f'{{"id": "b", "meta": {{"text": 1, "text": 2}}, "text": "{DRUGS} \\"text\\" \\"text\\""}}\n',
                     encoding="utf-8")
    proc, _ = predict(trained_model_dir, jsonl, code=3)
    first, second = [json.loads(row) for row in proc.stdout.decode().splitlines()]
    assert first["error"] == (f"2 keys are named 'text' (keys 2, 3); rename all but one, or name another column with "
                              f"--text-column ({jsonl}:1)") and first["id"] == f"{jsonl}:1"
    assert second["error"] is None and second["label"] == "drugs"  # a nested object's keys, and quotes in the text


def test_exit_codes_and_capped_error_list(tmp_path, trained_model_dir):
    """Issue 9 item 6: 0 all labeled, 3 some not, 4 none; stderr lists 20 errors and counts the rest."""
    ok = tmp_path / "ok.jsonl"
    ok.write_bytes(line(id="a", text=SANCTIONS))
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"{oops\n" * 25)
    predict(trained_model_dir, ok, "-o", tmp_path / "1.jsonl", code=0)
    _, err = predict(trained_model_dir, bad, "-o", tmp_path / "2.jsonl", code=4)
    _, err = predict(trained_model_dir, ok, bad, "-o", tmp_path / "3.jsonl", code=3)
    assert "could not label: 25" in err and err.count("broken JSON line") == 20
    assert f'... and 5 more: every row with an "error" in {tmp_path / "3.jsonl"}' in err


def test_label_records_survives_a_model_failure_on_one_text(trained_model_dir):
    """Issue 12 item 1: whatever the model raises on one text costs that row only (batch and server alike)."""
    from predict.artifact import load_model
    from predict.batch import BatchOptions, label_records
    from predict.readers import Record

    model = load_model(str(trained_model_dir))
    real = model.predict_articles

    def fragile(texts, **kw):
        if any("boom" in t for t in texts):
            raise MemoryError("boom")
        return real(texts, **kw)

    model.predict_articles = fragile
    rows = label_records(model, [Record("a", SANCTIONS), Record("b", SANCTIONS + " boom"), Record("c", DRUGS)], BatchOptions())
    assert [r["label"] for r in rows] == ["sanctions", None, "drugs"]
    assert rows[1]["error"] == "the model could not label it: MemoryError: boom"


def test_max_chars_default_is_shared_with_the_server():
    """Issue 9 item 9: one --max-chars default (predict.limits.MAX_CHARS) for the CLI and BatchOptions."""
    from predict.batch import BatchOptions
    from predict.limits import MAX_CHARS

    assert MAX_CHARS == 100_000 and BatchOptions().max_chars == MAX_CHARS
    help_text = mihwar("predict", "--help", env={**os.environ, "COLUMNS": "200"}).stdout
    assert "100000" in help_text
    flags = [l for l in help_text.splitlines() if l.strip("│ ").startswith(("--paragraphs", "--explain", "--resume"))]
    assert len(flags) == 3 and not any("<bool>" in l for l in flags)  # real flags, no value expected


def test_outputs_and_files_outside_the_happy_path(tmp_path, trained_model_dir):
    """An adversarial pass (2026-11-24) found each of these: a device or pipe given as --output was replaced by a
    regular file (as root, /dev/null itself); a non-UTF-8 file name stopped the batch; UTF-32 was read as UTF-16;
    --resume from stdin took other data for the interrupted run's."""
    import stat

    src = tmp_path / "in"
    src.mkdir()
    (src / "a_utf8.txt").write_bytes(SANCTIONS.encode("utf-8"))
    (src / "b_utf32.txt").write_bytes(SANCTIONS.encode("utf-32"))  # with its BOM, which starts like UTF-16's
    with open(os.path.join(os.fsencode(src), b"c_\xff.txt"), "wb") as f:  # a file name that is not UTF-8
        f.write(DRUGS.encode("utf-8"))
    out = tmp_path / "out.jsonl"
    predict(trained_model_dir, src, "--output", out, code=0)
    rows = read_rows(out)
    assert len(rows) == 3 and not any(r["error"] for r in rows)
    assert rows[1]["scores"] == rows[0]["scores"]  # the UTF-32 file reads as the UTF-8 one
    assert "\\udcff" in (tmp_path / "out.jsonl.meta.json").read_text(encoding="utf-8")  # the raw name, as a JSON escape
    _, err = predict(trained_model_dir, src, "--output", out, "--resume", code=0)  # finished: no journal left
    assert "--resume: no interrupted run to resume" in err and len(read_rows(out)) == 3

    broken = tmp_path / "with_a_broken_link"
    broken.mkdir()
    (broken / "a.txt").write_text(SANCTIONS, encoding="utf-8")
    (broken / "b.txt").symlink_to(tmp_path / "nowhere.txt")  # was skipped: no row, "could not label: 0"
    _, err = predict(trained_model_dir, broken, "--output", tmp_path / "b.jsonl", code=3)
    assert [bool(r["error"]) for r in read_rows(tmp_path / "b.jsonl")] == [False, True] and "could not label: 1" in err

    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    _, err = predict(trained_model_dir, src / "a_utf8.txt", "--output", fifo, code=2)
    assert "is a named pipe (FIFO), not a regular file" in err and stat.S_ISFIFO(os.stat(fifo).st_mode)
    _, err = predict(trained_model_dir, src / "a_utf8.txt", "--output", "/dev/null", code=2)  # said "(no extension)"
    assert "/dev/null: is a character device" in err and "--output - > /dev/null" in err
    _, err = predict(trained_model_dir, src / "a_utf8.txt", "--output", "/dev/stdout", code=2)  # stdout is a pipe here
    assert "/dev/stdout: is a named pipe (FIFO)" in err  # its resolved name (pipe:[N]) is no path: was "No such file"

    target, link = tmp_path / "kept.jsonl", tmp_path / "link.jsonl"
    target.write_text("old\n", encoding="utf-8")
    link.symlink_to(target)
    predict(trained_model_dir, src / "a_utf8.txt", "--output", link, code=0)
    assert link.is_symlink() and len(read_rows(target)) == 1  # written through the link

    from predict.artifact import load_model
    from predict.batch import BatchOptions, batch_header

    stdin_out = tmp_path / "s.jsonl"  # a journal of one row, read from stdin by the interrupted run
    header = batch_header(["-"], load_model(str(trained_model_dir)), BatchOptions(output=str(stdin_out), resume=True))
    Path(str(stdin_out) + ".partial").write_text(json.dumps({"_mihwar_batch": header}) + "\n" + json.dumps(rows[0]) + "\n",
                                                 encoding="utf-8")
    _, err = predict(trained_model_dir, "-", "--output", stdin_out, "--resume", stdin=line(id="s", text=DRUGS), code=2)
    assert "some of them from stdin (-), and nothing shows that stdin holds them again" in err


def test_a_damaged_journal_is_refused_on_resume(tmp_path, trained_model_dir):
    """A journal line edited by hand used to stop `--resume` with an unexpected JSONDecodeError (exit 1)."""
    from predict.artifact import load_model
    from predict.batch import BatchOptions, batch_header

    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(line(id="a", text=SANCTIONS) + line(id="b", text=DRUGS))
    header = batch_header([str(src)], load_model(str(trained_model_dir)), BatchOptions(output=str(out), resume=True))
    journal = tmp_path / "out.jsonl.partial"
    for bad in ("garbage line", json.dumps({"id": "a", "label": "bogus"})):
        journal.write_text(json.dumps({"_mihwar_batch": header}) + "\n" + bad + "\n", encoding="utf-8")
        _, err = predict(trained_model_dir, src, "--output", out, "--resume", code=2)
        assert "line 2 is not a row this batch wrote" in err


def test_stdout_closed_early_or_from_the_start(tmp_path, trained_model_dir):
    """`mihwar predict ... -o - | head -1` ended with exit 1, and a closed stdout with an unexpected AttributeError."""
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join(line(id=f"r{i}", text=(SANCTIONS, DRUGS)[i % 2]) for i in range(2000)))  # > a pipe's buffer
    cmd = [sys.executable, "-m", "mihwar.cli", "predict", str(src), "--model", str(trained_model_dir), "-o", "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert json.loads(proc.stdout.readline())["id"] == "r0"
    proc.stdout.close()  # the reader has what it wanted, as `head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == "", err  # quiet, as Unix tools are
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120,
                          preexec_fn=lambda: os.close(1))  # started with stdout closed (`>&-`)
    assert proc.returncode == 2 and "stdout is closed" in proc.stderr.decode()


def test_ids_and_a_missing_id_column(tmp_path, trained_model_dir):
    """An id that is a JSON object was written as Python's repr ("{'x': 1}"); an --id-column no input has was silent."""
    src = tmp_path / "in.jsonl"
    src.write_bytes(line(id={"x": 1}, text=SANCTIONS) + line(id=True, text=DRUGS) + line(id=7, text=DRUGS)
                    + line(id=float("nan"), text=DRUGS) + f'{{"id": 1e400, "text": "{DRUGS}"}}\n'.encode())
    _, err = predict(trained_model_dir, src, "--output", tmp_path / "a.jsonl", code=0)
    # A NaN or infinite id was "nan" or "inf" (the same for every such row): such a row is named by its place
    assert [r["id"] for r in read_rows(tmp_path / "a.jsonl")] == ['{"x": 1}', "true", "7", f"{src}:4", f"{src}:5"]
    assert "note:" not in err
    _, err = predict(trained_model_dir, src, "--output", tmp_path / "b.jsonl", "--id-column", "url", code=0)
    assert f"note: {src}: no 'url' column" in err and read_rows(tmp_path / "b.jsonl")[0]["id"] == f"{src}:1"


def test_an_error_found_after_reading_names_the_row_even_when_it_has_an_id(tmp_path, trained_model_dir):
    """An empty or too long text is found when labeling, after reading: its row still says FILE:LINE, as a
    reader's error does, so a person can find it in a file of thousands of ids. A row whose id is its place
    does not repeat it."""
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_bytes(line(id="a1", text=SANCTIONS) + line(id="a2", text=" \u0651 \u200c ") + b"\n"
                      + line(text="\t") + line(id="a5", text=DRUGS * 10) + line(id="a6"))
    proc, stderr = predict(trained_model_dir, jsonl, "--max-chars", "500", code=3)
    rows = [json.loads(l) for l in proc.stdout.decode().splitlines()]
    assert [r["id"] for r in rows] == ["a1", "a2", f"{jsonl}:4", "a5", "a6"]
    assert rows[0]["error"] is None
    assert rows[1]["error"] == f"empty text ({jsonl}:2)"
    assert rows[2]["error"] == "empty text"
    assert rows[3]["error"] == f"text too long: {len(DRUGS * 10)} characters > limit 500 ({jsonl}:5)"
    assert rows[4]["error"] == f"no 'text' value ({jsonl}:6)"
    assert f"a2: empty text ({jsonl}:2)" in stderr  # the summary a person reads names it too


def test_rows_without_an_id_in_a_file_whose_name_is_not_utf8_are_labeled(tmp_path, trained_model_dir):
    """A row without an id is named by its place, FILE:LINE; a Latin-1 file name (a surrogate escape in Python)
    made every such row an "id holds invalid Unicode" error, and the batch labeled nothing (exit 4)."""
    d = tmp_path / "in"
    d.mkdir()
    (d / os.fsdecode(b"n\xe9ws.jsonl")).write_bytes(line(text=SANCTIONS) + line(id="own", text=DRUGS)
                                                    + b'{"id": "x\\ud800", "text": "' + DRUGS.encode() + b'"}\n')
    proc, _ = predict(trained_model_dir, d, code=3)
    first, second, bad = [json.loads(l) for l in proc.stdout.decode().splitlines()]
    assert first["error"] is None and first["label"] and first["id"].endswith("ws.jsonl:1")
    assert second["error"] is None and second["id"] == "own"
    assert bad["error"].startswith("id holds invalid Unicode")  # an id the row gives is still checked


def test_what_an_adversary_found_in_files_links_pipes_and_ids(tmp_path, trained_model_dir):
    """Each of these stopped the whole batch with "unexpected ...Error" (exit 1, every other input's rows lost),
    turned a whole file into one error row, or let an id write to the terminal."""
    mac = tmp_path / "mac.csv"  # Excel's "CSV (Macintosh)": lines end with CR alone
    mac.write_bytes(f"id,text\rm1,{SANCTIONS}\rm2,{DRUGS}\r".encode())
    header = tmp_path / "header.csv"  # a quoted header cell with a line break (columns were ['id', 'text', 'no']): rows
    header.write_bytes(f'id,text,"no\nte"\nh1,{SANCTIONS},x\nh2,"\n'.encode())  # start on line 3
    nul = tmp_path / "nul.jsonl"  # 10 NUL bytes in the first row: that row's error, not the file's
    nul.write_bytes(b'{"id": "n", "text": "' + b"\x00" * 10 + b'"}\n' + b"".join(line(id=f"r{i}", text=DRUGS) for i in range(20)))
    hostile = tmp_path / "ids.jsonl"
    hostile.write_bytes(line(id="a\nFAKE SUMMARY LINE", text="") + line(id="\x1b]0;pwned\x07\x1b[31mRED", text=5))
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.txt").write_text(SANCTIONS, encoding="utf-8")
    (folder / "loop.txt").symlink_to("loop.txt")
    os.mkfifo(folder / "pipe.jsonl")  # opening it (to check its columns, or read it) would block for good
    out = tmp_path / "out.jsonl"
    proc, err = predict(trained_model_dir, mac, header, nul, hostile, folder, "--output", out, "--workers", "1", code=3)
    rows = read_rows(out)
    assert [r["id"] for r in rows] == ["m1", "m2", "h1", f"{header}:4", f"{nul}:1", *[f"r{i}" for i in range(20)],
                                       "a\nFAKE SUMMARY LINE", "\x1b]0;pwned\x07\x1b[31mRED", str(folder / "a.txt"),
                                       str(folder / "loop.txt"), str(folder / "pipe.jsonl")]
    assert [r["label"] for r in rows[:3]] == ["sanctions", "drugs", "sanctions"]
    assert "malformed CSV row at line 4" in rows[3]["error"] and "broken JSON line" in rows[4]["error"]
    assert rows[-2]["error"] == "cannot read: Too many levels of symbolic links"
    assert rows[-1]["error"] == "cannot read: a named pipe (FIFO), not a regular file"
    assert "\x1b" not in err and "\nFAKE" not in err  # the summary shows ids escaped
    assert "  a\\nFAKE SUMMARY LINE: empty text" in err and "  \\x1b]0;pwned\\x07\\x1b[31mRED: 'text' is int" in err
    bad_header = tmp_path / "bad_header.csv"
    bad_header.write_bytes(b'id,text,"x\n1,2\n')
    proc, err = predict(trained_model_dir, bad_header, mac, "--output", "-", "--workers", "1", code=3)
    assert "bad_header.csv:1: malformed CSV header at line 1: unexpected end of data" in err and "labeled 2 of 3" in err


def test_an_output_or_stdin_that_cannot_be_used_is_named(tmp_path, trained_model_dir):
    src = tmp_path / "a.txt"
    src.write_text(SANCTIONS, encoding="utf-8")
    loop = tmp_path / "loop.jsonl"
    loop.symlink_to("loop.jsonl")
    _, err = predict(trained_model_dir, src, "--output", loop, code=2)
    assert f"error: {loop}: cannot write: a loop of symbolic links" in err
    _, err = predict(trained_model_dir, loop, code=2)  # as an input: was "no such file or folder"
    assert err.strip() == f"error: {loop}: a loop of symbolic links"
    dangling = tmp_path / "dangling.txt"
    dangling.symlink_to("nowhere.txt")
    _, err = predict(trained_model_dir, dangling, code=2)
    assert err.strip() == f"error: {dangling}: a symbolic link to a missing file (nowhere.txt)"
    with open("/dev/full", "w") as full:  # the summary cannot be written: the output is, and the exit status says so
        proc = subprocess.run([sys.executable, "-m", "mihwar.cli", "predict", str(src), "--model", str(trained_model_dir),
                               "--output", str(tmp_path / "o.jsonl")], stderr=full, timeout=300)
    assert proc.returncode == 0 and len(read_rows(tmp_path / "o.jsonl")) == 1
    proc = subprocess.run([sys.executable, "-m", "mihwar.cli", "predict", "-", "--model", str(trained_model_dir)],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=300, preexec_fn=lambda: os.close(0))
    assert proc.returncode == 2 and proc.stderr.decode().strip() == "error: -: stdin is closed; give input files, or open stdin"
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([sys.executable, "-m", "mihwar.cli", "predict", str(src), "--model", str(trained_model_dir)],
                              stdout=full, stderr=subprocess.PIPE, timeout=300)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in err and "Exception ignored" not in err, err
    assert err.strip() == "error: --output - (stdout): cannot write: No space left on device"
    proc, _ = predict(trained_model_dir, src, "--output", "-", "--format", "CSV", code=0)  # as x.CSV is csv
    assert proc.stdout.decode().startswith("id,label,confidence,")


def test_csv_line_endings_of_every_kind_and_binary_files_that_look_half_text(tmp_path):
    """A second adversarial pass: a CR-only CSV whose quoted cells hold LF (Excel for Mac, Alt+Enter) was one
    error row, mixed CR/LF files lost rows, a CR-only file with one NUL row was 'binary data', and a PDF renamed
    .jsonl gave 1,537 error rows. CSV lines now end at CRLF, CR or LF (as Python's newline="" reads them)."""
    import csv
    import io

    from predict.readers import ReadOptions, read_all

    texts = [f"{SANCTIONS}\n{DRUGS} {i}" for i in range(20)]  # each cell holds a line break

    def table(ending: str | list[str], rows=texts) -> bytes:
        out = io.StringIO()
        endings = ending if isinstance(ending, list) else [ending] * (len(rows) + 1)
        for k, row in enumerate([("id", "text"), *((f"a{i}", t) for i, t in enumerate(rows))]):
            csv.writer(out, lineterminator=endings[k], quoting=csv.QUOTE_NONNUMERIC).writerow(row)
        return out.getvalue().encode("utf-8")

    opts = ReadOptions("text", "id", 10**9, 10**6)
    mixed = ["\r"] * 8 + ["\n"] * 7 + ["\r\n"] * 6
    padded = [f"{SANCTIONS} {'x' * 4000} {i}" for i in range(40)]  # about 160 KB: CRLFs fall across read chunks
    for name, data, rows in (("mac.csv", table("\r"), texts), ("mixed.csv", table(mixed), texts),
                             ("utf16.csv", table("\r").decode().encode("utf-16"), texts),
                             ("crlf.csv", table("\r\n", padded), padded)):
        (tmp_path / name).write_bytes(data)
        records = list(read_all([str(tmp_path / name)], opts))
        assert [(r.id, r.text, r.error) for r in records] == [(f"a{i}", t, None) for i, t in enumerate(rows)], name
    nul = tmp_path / "nul.csv"  # CR-only, one row of NUL bytes: that row's error only
    nul.write_bytes(b"id,text\r" + b"n,\"" + b"\x00" * 12 + b"\"\r" + table("\r").split(b"\r", 1)[1])
    records = list(read_all([str(nul)], opts))
    assert [r.id for r in records] == ["n", *(f"a{i}" for i in range(20))] and not any(r.error for r in records)
    pdf = tmp_path / "x.jsonl"  # most lines ASCII, about 3 in 10 binary: still a binary file
    pdf.write_bytes(b"".join(b"%PDF-1.5 obj << /Type /Page >> endobj\n" * 7 + b"\x00\x01\x02stream\xff\x00\x00\n" * 3
                             for _ in range(40)))
    assert [r.error for r in read_all([str(pdf)], opts)] == ["binary data, not text"]
