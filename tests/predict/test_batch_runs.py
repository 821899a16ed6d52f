"""Whole `mihwar predict` runs as a person and a scheduler see them: a terminal, two runs on one
output, an interrupted run resumed, the model named, several workers (issue 12 items 4-6,
issue 9 items 1 and 4, issue 13 item 3)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from predict.cores import usable_cores
from tests.conftest import ROOT

SANCTIONS = "أعلنت وزارة الخزانة الأمريكية فرض عقوبات جديدة بموجب قانون قيصر على رجال أعمال مرتبطين بالنظام السوري."
DRUGS = "ضبطت السلطات الأردنية شحنة كبيرة من حبوب الكبتاغون المهربة من سوريا عبر الحدود."
CLI = [sys.executable, "-m", "mihwar.cli", "predict"]


def line(**row) -> bytes:
    return (json.dumps(row, ensure_ascii=False) + "\n").encode()


def read_rows(path):
    return [json.loads(l) for l in Path(path).read_text(encoding="utf-8").splitlines()]


def wait_for(condition, timeout=60.0):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("to_stdout", [False, True], ids=["to-file", "to-the-terminal"])
@pytest.mark.parametrize("size", [(24, 100), (0, 0)], ids=["window", "no-size"])
def test_progress_bar_in_a_real_terminal(tmp_path, trained_model_dir, size, to_stdout):
    """Issue 9 item 1: with stderr on a pseudo-terminal, the bar used to crash after the first chunk.
    A pseudo-terminal with no size (`script` started outside a window) drew no bar at all: tqdm counted -1 lines.
    Rows written to that same terminal (no --output) had the bar drawn between them, glued to the first row: the
    rows are then their own progress, and no bar is drawn."""
    import fcntl
    import pty
    import struct
    import termios

    out = tmp_path / "labels.jsonl"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))  # a window's size, or none
    proc = subprocess.Popen([*CLI, str(ROOT / "data/samples"), "--output", "-" if to_stdout else str(out), "--model",
                             str(trained_model_dir), "--chunk-size", "2", "--workers", "1"], stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave)
    os.close(slave)
    seen = bytearray()
    reader = threading.Thread(target=lambda: _drain(master, seen), daemon=True)
    reader.start()
    assert proc.wait(timeout=120) == 0
    reader.join(timeout=10)
    screen = seen.decode(errors="replace")
    assert "Traceback" not in screen and "labeled 5 of 5 articles" in screen
    if to_stdout:
        rows = [json.loads(l) for l in screen.replace("\r", "").splitlines() if l.startswith("{")]
        assert "/5 [" not in screen and len(rows) == 5  # every row on a line of its own
        return
    assert "0/5 [" in screen  # the bar knew its total (ETA shown as it goes)
    assert len(read_rows(out)) == 5 and not Path(str(out) + ".partial").exists()


def _drain(fd, into):
    try:
        while chunk := os.read(fd, 4096):
            into += chunk
    except OSError:  # the terminal closes when the process ends
        pass


def test_output_onto_an_input_or_a_folder_is_refused_and_old_output_not_read_back(tmp_path, trained_model_dir):
    """Issue 12 item 4."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "x.jsonl").write_bytes(line(id="a", text=SANCTIONS) + line(id="b", text=DRUGS))
    before = (src / "x.jsonl").read_bytes()
    for output, message in ((src / "x.jsonl", "would overwrite the input"), (src, "is a folder")):
        proc = subprocess.run([*CLI, str(src), "--output", str(output), "--model", str(trained_model_dir)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert (src / "x.jsonl").read_bytes() == before and sorted(p.name for p in src.iterdir()) == ["x.jsonl"]
    for _ in range(2):  # the second run must not label the first run's output (or its sidecar)
        subprocess.run([*CLI, str(src), "--output", str(src / "labels.jsonl"), "--model", str(trained_model_dir)],
                       check=True, capture_output=True, timeout=120)
        assert [r["id"] for r in read_rows(src / "labels.jsonl")] == ["a", "b"]


def test_a_second_run_on_the_same_output_is_refused(tmp_path, trained_model_dir):
    """Issue 12 item 5: the first run holds the output (stdin keeps it busy); the second is refused."""
    out = tmp_path / "out.jsonl"
    first = subprocess.Popen([*CLI, "-", "--output", str(out), "--model", str(trained_model_dir)],
                             stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    first.stdin.write(line(id="a", text=SANCTIONS))
    first.stdin.flush()
    wait_for(lambda: Path(str(out) + ".lock").exists())
    second = subprocess.run([*CLI, "-", "--output", str(out), "--model", str(trained_model_dir)],
                            input=line(id="z", text=DRUGS), capture_output=True, timeout=120)
    assert second.returncode == 2
    assert f"another `mihwar predict` (pid {first.pid}) is writing it now".encode() in second.stderr
    first.stdin.write(line(id="b", text=DRUGS))
    first.stdin.close()
    assert first.wait(timeout=120) == 0
    assert [r["id"] for r in read_rows(out)] == ["a", "b"] and not Path(str(out) + ".lock").exists()


def _killed_midway(tmp_path, model, src, out, *extra):
    """A real run killed with SIGKILL after it journaled ``src`` and while it waits on stdin."""
    proc = subprocess.Popen([*CLI, str(src), "-", "--output", str(out), "--model", str(model), "--chunk-size", "4",
                             "--workers", "1", *extra], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    journal = Path(str(out) + ".partial")
    wait_for(lambda: journal.exists() and journal.read_bytes().count(b"\n") >= 9)  # header + 8 rows
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return journal


@pytest.mark.parametrize("sig, code, said", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_ctrl_c_says_what_was_kept_and_how_to_go_on(tmp_path, trained_model_dir, sig, code, said):
    """typer turned Ctrl-C into a silent exit 130: no word of the journal or of --resume. A scheduler's SIGTERM
    left the output lock behind and said nothing either."""
    src, out = tmp_path / "a.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(b"".join(line(id=f"r{i}", text=(SANCTIONS, DRUGS)[i % 2]) for i in range(1, 10)))
    proc = subprocess.Popen([*CLI, str(src), "-", "--output", str(out), "--model", str(trained_model_dir), "--chunk-size",
                             "4", "--workers", "1"], stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal: a job
    # started in the background (`.ci/run &`) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt
    journal = Path(str(out) + ".partial")
    wait_for(lambda: journal.exists() and journal.read_bytes().count(b"\n") >= 9)  # header + 8 rows, then waits on stdin
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    assert proc.returncode == code and "Traceback" not in err, err
    assert f"{said}; the rows written so far are kept in {out}.partial" in err and "--resume" in err
    assert not Path(str(out) + ".lock").exists()


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] in "ZX"  # reaped, or a zombie: not running
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGKILL, -9)])
def test_a_run_stopped_while_its_workers_run_ends_them_too(tmp_path, trained_model_dir, sig, code):
    """Ctrl-C sent to a `mihwar predict --workers 2` (the parent alone, as `kill -INT` does) once left it hanging
    for good after "interrupted": Python 3.11's executor waited for its workers while they waited for tasks.
    A killed parent left its workers alive, holding the terminal's pipes. The pool is now stopped at once, and a
    worker dies with its parent."""
    src, out = tmp_path / "a.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(b"".join(line(id=f"r{i}", text=(SANCTIONS, DRUGS)[i % 2]) for i in range(1, 82)))
    proc = subprocess.Popen([*CLI, str(src), "-", "--output", str(out), "--model", str(trained_model_dir), "--chunk-size",
                             "4", "--workers", "2"], stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    journal = Path(str(out) + ".partial")
    # 20 chunks from the file, the 21st waits on stdin; at most 8 chunks are held (--workers 2: 4 each), so at
    # least 12 (48 rows) are written by then
    wait_for(lambda: journal.exists() and journal.read_bytes().count(b"\n") >= 49)  # with the header
    workers = [c for c in _children(proc.pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
    assert len(workers) == 1  # --workers 2: this process and one helper score
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code and "Traceback" not in err.decode(), err.decode()
    wait_for(lambda: all(map(_gone, workers)), timeout=30)


def test_a_helper_killed_mid_batch_is_one_clear_line_and_the_rows_are_kept(tmp_path, trained_model_dir):
    """A helper killed by the out-of-memory killer (or kill -9) gave "unexpected BrokenProcessPool" (an adversarial
    pass). It now says a helper died, and where the rows written so far are kept."""
    src, out = tmp_path / "a.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(b"".join(line(id=f"r{i}", text=(SANCTIONS, DRUGS)[i % 2]) for i in range(1, 82)))
    proc = subprocess.Popen([*CLI, str(src), "-", "--output", str(out), "--model", str(trained_model_dir), "--chunk-size",
                             "4", "--workers", "2"], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    journal = Path(str(out) + ".partial")
    wait_for(lambda: journal.exists() and journal.read_bytes().count(b"\n") >= 49)  # as in the test above
    [helper] = [c for c in _children(proc.pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
    os.kill(helper, signal.SIGKILL)
    _, err = proc.communicate(b"".join(line(id=f"s{i}", text=DRUGS) for i in range(40)), timeout=60)
    err = err.decode()
    assert proc.returncode == 1 and "Traceback" not in err and "BrokenProcessPool" not in err, err
    assert err.strip().startswith("error: a helper process of --workers stopped abruptly (killed, or out of memory?)")
    assert f"the rows written so far are kept in {out}.partial" in err and "save stdin to a file" in err
    assert journal.read_bytes().count(b"\n") >= 49


@pytest.mark.parametrize("module", ["typer", "predict.batch"])
def test_a_ctrl_c_in_the_first_tenth_of_a_second_says_interrupted(module):
    """A Ctrl-C right after Enter: while the command's modules load (typer: about 0.1 s) it printed a traceback
    from inside them, and while typer read the command line or a command started it was a silent exit 130.
    The console command (`mihwar:main`) loads the CLI under a guard and says what typer did not. The Ctrl-C is
    simulated at exactly those moments: importing ``module`` raises KeyboardInterrupt."""
    from importlib.metadata import entry_points

    assert entry_points(group="console_scripts")["mihwar"].value == "mihwar:main"
    code = ("import builtins, sys\n"
            "real = builtins.__import__\n"
            "def hook(name, *args, **kwargs):\n"
            f"    if name == {module!r}:\n"
            "        raise KeyboardInterrupt\n"
            "    return real(name, *args, **kwargs)\n"
            "builtins.__import__ = hook\n"
            "sys.argv = ['mihwar', 'predict', 'nothing.jsonl']\n"
            "from mihwar import main\n"
            "main()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert (proc.returncode, proc.stderr) == (130, "interrupted\n")


def test_a_pool_worker_ignores_ctrl_c_from_its_first_instruction():
    """A Ctrl-C typed in a terminal reaches every process of the group: a worker still importing its modules
    printed a KeyboardInterrupt traceback from inside NumPy. Workers now start with SIGINT blocked."""
    from predict.pool import spawn_pool, spawn_quietly, worker_start

    pool = spawn_pool(1, worker_start, (os.getpid(),))
    try:
        blocked = spawn_quietly(pool, signal.pthread_sigmask, signal.SIG_BLOCK, []).result(timeout=120)
        handler = spawn_quietly(pool, signal.getsignal, signal.SIGINT).result(timeout=120)
    finally:
        pool.shutdown()
    assert signal.SIGINT in blocked and handler == signal.SIG_IGN
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # this process still gets Ctrl-C


def test_resume_checks_inputs_options_and_model_version_and_counts_the_whole_output(tmp_path, trained_model_dir):
    """Issue 12 item 6 and issue 9 item 4: a killed run's journal is resumed only by the same batch."""
    src = tmp_path / "a.jsonl"
    src.write_bytes(b"{oops\n" + b"".join(line(id=f"r{i}", text=(SANCTIONS, DRUGS)[i % 2]) for i in range(1, 10)))
    out = tmp_path / "out.jsonl"
    journal = _killed_midway(tmp_path, trained_model_dir, src, out)
    other_model = tmp_path / "other_model"
    shutil.copytree(trained_model_dir, other_model)
    meta = json.loads((other_model / "meta.json").read_text(encoding="utf-8"))
    meta["threshold"] = 0.99  # another model version: same path layout, different decisions
    (other_model / "meta.json").write_text(json.dumps(meta), encoding="utf-8")

    def resume(*extra, model=trained_model_dir, inputs=(src,)):
        return subprocess.run([*CLI, *map(str, inputs), "-", "--output", str(out), "--model", str(model), "--resume",
                               "--workers", "1", *extra], input=line(id="s", text=DRUGS).decode(), capture_output=True, text=True,
                              timeout=120)

    proc = resume(model=other_model)
    assert proc.returncode == 2 and "belongs to a different batch: its model version" in proc.stderr, proc.stderr
    # other options: the message says which, and how to resume (a newcomer was told only to delete the journal)
    for proc, said in ((resume("--max-chars", "500"), "--max-chars 100000 (now 500)"),
                       (resume("--id-column", "key"), '--id-column "id" (now "key")'),
                       (resume("--paragraphs"), "--paragraphs off (now on)")):
        assert proc.returncode == 2 and f"the interrupted batch ran with {said}: give the same options" in proc.stderr, \
            proc.stderr
    journaled = journal.read_bytes()
    src.write_bytes(src.read_bytes().replace(b"r9", b"R9"))  # same size, new content and mtime
    os.utime(src, ns=(time.time_ns(), time.time_ns() + 10**9))
    proc = resume()
    assert proc.returncode == 2 and "its inputs (paths, sizes or modification times) differ" in proc.stderr
    assert journal.read_bytes() == journaled  # a refused resume leaves the journal untouched
    src.write_bytes(src.read_bytes().replace(b"R9", b"r9"))
    journal.unlink()
    _killed_midway(tmp_path, trained_model_dir, src, out)
    with open(journal, "ab") as f:
        f.write(b'{"id": "r8", "lab')  # a row torn by the kill
    proc = resume()
    assert proc.returncode == 3, proc.stderr
    assert "resumed after 8 rows" in proc.stderr and "could not label: 1" in proc.stderr  # the earlier error counts
    assert [r["id"] for r in read_rows(out)] == [f"{src}:1", *[f"r{i}" for i in range(1, 10)], "s"]
    meta = json.loads(Path(str(out) + ".meta.json").read_text(encoding="utf-8"))
    from predict.artifact import load_model

    assert meta["model"] == {"uri": str(trained_model_dir), "identity": load_model(str(trained_model_dir)).identity}
    assert meta["rows"] == 11 and meta["errors"] == 1
    assert f"model: {trained_model_dir} (model id {meta['model']['identity']})" in proc.stderr


@pytest.mark.skipif(usable_cores() < 2, reason="--workers is capped at the cores: one core gives no pool to compare")
def test_workers_give_the_same_rows_in_the_same_order(tmp_path, trained_model_dir):
    """Issue 13 item 3: --workers 2 (a process pool, each worker loading the model once) == --workers 1."""
    src = tmp_path / "a.jsonl"
    texts = (SANCTIONS, DRUGS, SANCTIONS + "\n" + DRUGS, "")
    src.write_bytes(b"".join(line(id=f"r{i}", text=texts[i % 4]) for i in range(120)))
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.jsonl"
        proc = subprocess.run([*CLI, str(src), "--output", str(out), "--model", str(trained_model_dir), "--chunk-size", "7",
                               "--workers", workers, "--paragraphs"], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 3 and "Traceback" not in proc.stderr  # the empty texts are error rows
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert [r["id"] for r in read_rows(tmp_path / "w2.jsonl")] == [f"r{i}" for i in range(120)]


@pytest.mark.parametrize("damage", ["truncated", "replaced"])
def test_a_helper_that_cannot_load_the_parents_model_is_one_clear_error(tmp_path, trained_model_dir, capfd, damage):
    """Each helper loads the model folder itself. A folder damaged (or replaced by another model) after the
    parent loaded it broke the pool: a traceback from the helper, then "a helper ... stopped abruptly (killed,
    or out of memory?)". Now the helper's first chunk raises the load's own error, and a helper never labels
    with another version than the parent's."""
    import numpy as np

    from predict.artifact import ModelNotFoundError, load_model
    from predict.batch import BatchOptions
    from predict.pool import label_in_pool
    from predict.tables import Record

    model = load_model(str(trained_model_dir))
    folder = tmp_path / "model"
    shutil.copytree(trained_model_dir, folder)
    if damage == "truncated":
        coef = folder / "linear" / "coef.npy"
        coef.write_bytes(coef.read_bytes()[:100])
        expected = "a model file is missing or damaged"
    else:
        intercept = folder / "linear" / "intercept.npy"
        np.save(intercept, np.load(intercept) + 1.0)
        expected = "the model changed while the batch started"
    chunks = [[Record(f"r{c}-{i}", SANCTIONS) for i in range(3)] for c in range(4)]
    with pytest.raises(ModelNotFoundError, match=expected):
        list(label_in_pool(chunks, model, str(folder), BatchOptions(), workers=2))
    assert "Traceback" not in capfd.readouterr().err


def test_a_record_reaches_a_helper_whole():
    """Records go to a helper as plain tuples (`predict.pool._packed`): every field of a record must cross."""
    from dataclasses import fields

    from predict.pool import _packed
    from predict.tables import Record

    record = Record(*(f"value {i}" for i in range(len(fields(Record)))))
    assert Record(*_packed([record])[0]) == record


@pytest.mark.skipif(shutil.which("taskset") is None, reason="needs taskset (util-linux)")
def test_more_workers_than_cores_are_capped_and_said(tmp_path, trained_model_dir):
    """`--workers 64` on a machine (or a container, or a `taskset`) with fewer cores starts as many workers as it
    may use, each of which would load the model (about 270 MB), and says so; the rows are those of one worker."""
    src = tmp_path / "a.jsonl"
    src.write_bytes(b"".join(line(id=f"r{i}", text=(SANCTIONS, DRUGS)[i % 2]) for i in range(40)))
    out = tmp_path / "out.jsonl"
    proc = subprocess.run(["taskset", "-c", "0", *CLI, str(src), "--output", str(out), "--model", str(trained_model_dir),
                           "--chunk-size", "4", "--workers", "64"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "note: --workers 64: at most 1, the cores this process may use" in proc.stderr
    proc = subprocess.run(["taskset", "-c", "0", *CLI, str(src), "--output", str(tmp_path / "one.jsonl"), "--model",
                           str(trained_model_dir), "--workers", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "--workers" not in proc.stderr  # no note when the request fits
    assert out.read_bytes() == (tmp_path / "one.jsonl").read_bytes() and len(read_rows(out)) == 40


def test_compiled_loop_labels_a_run_exactly_as_numpy_does(tmp_path, trained_model_dir):
    """A long run switches to the compiled loop (`predict.compiled`): every byte of its output is NumPy's."""
    from tests.predict.test_linear_parity import ant_units

    src = tmp_path / "ant.jsonl"
    paragraphs = [p for p, _ in ant_units()][:700]
    src.write_bytes(b"".join(line(id=f"p{i}", text=p) for i, p in enumerate(paragraphs)))
    outputs = []
    for after in ("never", "0", "300"):  # NumPy only; compiled from the first text; switching in the middle of the run
        out = tmp_path / f"after_{after}.jsonl"
        proc = subprocess.run([*CLI, str(src), "--output", str(out), "--model", str(trained_model_dir), "--paragraphs"],
                              capture_output=True, text=True, timeout=300, env={**os.environ, "MIHWAR_COMPILED_AFTER": after})
        assert proc.returncode == 0, proc.stderr[-2000:]
        outputs.append(out.read_bytes())
    assert len(read_rows(tmp_path / "after_never.jsonl")) == len(paragraphs)
    assert outputs[0] == outputs[1] == outputs[2]
