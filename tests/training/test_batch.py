"""`redheart batch`: resumable, every id exactly once, the same results on two DDP processes."""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from redheart_core.cli import cli
from redheart_core.training.batch import record_id

from .conftest import assert_same, comparable, read_jsonl, write_jsonl


def run_batch_cli(*args: str) -> "CliRunner.Result":
    result = CliRunner().invoke(cli, ["batch", *args, "--no-progress"], catch_exceptions=False)
    return result


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory, offline_config, batch_inputs):
    """A batch interrupted after 6 of the 15 inputs (its last line torn by the 'kill'), then
    rerun over all 15."""
    tmp = tmp_path_factory.mktemp("resume")
    out = tmp / "out.jsonl"
    first = run_batch_cli(str(write_jsonl(tmp / "first.jsonl", batch_inputs[:6])),
                          "--out", str(out), "--config", str(offline_config))
    assert first.exit_code == 0, first.output
    assert len(read_jsonl(out)) == 6
    with out.open("a") as fh:
        fh.write('{"id": "d07", "result": {"request_id": "d07", "te')
    full = write_jsonl(tmp / "all.jsonl", batch_inputs)
    second = run_batch_cli(str(full), "--out", str(out), "--config", str(offline_config))
    assert second.exit_code == 0, second.output
    assert "9 new, 6 already done, 15 inputs" in second.output
    return full, out


def test_rerun_after_interruption_answers_every_id_exactly_once(resumed_run, batch_inputs):
    _, out = resumed_run
    lines = read_jsonl(out)
    counts = collections.Counter(line["id"] for line in lines)
    expected = [r.get("id") or record_id(r["text"]) for r in batch_inputs]
    assert sorted(counts) == sorted(expected)
    assert set(counts.values()) == {1}
    for line in lines:
        assert set(line) == {"id", "result"}, line.get("error")
        assert line["result"]["request_id"] == line["id"]
        assert line["result"]["emotion"]["primary"]


def batch_after_its_first_answer(inputs, out, config, output) -> subprocess.Popen:
    """`redheart batch` in a subprocess, one record per step, once its first line is written."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "redheart_core", "batch", str(inputs), "--out", str(out),
         "--batch-size", "1", "--config", str(config), "--no-progress"],
        stdout=output, stderr=output, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 1:
            break
        time.sleep(0.01)
    return proc


def test_a_killed_batch_resumes_with_every_id_once(tmp_path, offline_config, batch_inputs):
    inputs = write_jsonl(tmp_path / "in.jsonl", batch_inputs)
    out = tmp_path / "out.jsonl"
    proc = batch_after_its_first_answer(inputs, out, offline_config, subprocess.DEVNULL)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    answered_before_kill = out.read_bytes().count(b"\n")
    assert 1 <= answered_before_kill < 15, "the batch was not interrupted mid-way"
    rerun = run_batch_cli(str(inputs), "--out", str(out), "--config", str(offline_config))
    assert rerun.exit_code == 0, rerun.output
    counts = collections.Counter(line["id"] for line in read_jsonl(out))
    assert len(counts) == 15 and set(counts.values()) == {1}


def test_a_finished_batch_is_not_redone(resumed_run, offline_config):
    full, out = resumed_run
    before = out.read_bytes()
    again = run_batch_cli(str(full), "--out", str(out), "--config", str(offline_config))
    assert again.exit_code == 0
    assert "all 15 ids are already in" in again.output
    assert out.read_bytes() == before


def test_generated_ids_are_stable_hashes_of_the_text(batch_inputs):
    text = batch_inputs[-1]["text"]
    assert record_id(text) == record_id(text) != record_id(text + " ")
    assert record_id(text).startswith("sha256-")


def test_ddp_on_two_cpu_processes_matches_the_single_process_run(resumed_run, offline_config, tmp_path):
    full, single_out = resumed_run
    out = tmp_path / "ddp.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "redheart_core", "batch", str(full), "--out", str(out),
         "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "--batch-size", "3",
         "--config", str(offline_config), "--no-progress"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "GLOBAL_RANK: 1" in proc.stderr  # really two processes
    assert not list(tmp_path.glob("ddp.jsonl.rank*.part"))  # parts merged
    ddp = read_jsonl(out)
    counts = collections.Counter(line["id"] for line in ddp)
    assert len(counts) == 15 and set(counts.values()) == {1}
    single = {line["id"]: line["result"] for line in read_jsonl(single_out)}
    for line in ddp:
        assert_same(comparable(line["result"]), comparable(single[line["id"]]), line["id"])


@pytest.mark.parametrize("lines, message", [
    ('{"id": "a", "text": "fine"}\n{"id": "b", "text": ""}\n',
     "in.jsonl line 2, field 'text': missing or empty"),
    ('{"id": "a", "text": "one"}\n{"id": "a", "text": "two"}\n',
     "in.jsonl line 2, field 'id': id 'a' is already used on line 1 for another text"),
    ('{"id": "a", "text": "one"}\n{"id": true, "text": "two"}\n',
     "in.jsonl line 2, field 'id': expected a non-empty string or integer"),
    ('{"id": "a", "text": "one"}\n["a", "b"]\n', "in.jsonl line 2: expected a JSON object, got list"),
    ("\n", "in.jsonl: holds no records"),
])
def test_a_bad_input_line_exits_2_naming_line_and_field(tmp_path, offline_config, lines, message):
    bad = tmp_path / "in.jsonl"
    bad.write_text(lines)
    result = CliRunner().invoke(cli, ["batch", str(bad), "--out", str(tmp_path / "o.jsonl"),
                                      "--config", str(offline_config)])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.gpu
def test_gpu_batch_answers_every_id_once_like_the_cpu_run(resumed_run, offline_config, tmp_path):
    full, single_out = resumed_run
    out = tmp_path / "gpu.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "redheart_core", "batch", str(full), "--out", str(out),
         "--accelerator", "gpu", "--devices", "1", "--config", str(offline_config),
         "--set", "memory.strategy=auto", "--set", "memory.device=auto",
         "--set", "embedding.device=auto", "--no-progress"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = read_jsonl(out)
    assert sorted(line["id"] for line in lines) == sorted(json.loads(l)["id"] for l in single_out.read_text().splitlines())
    cpu = {line["id"]: line["result"] for line in read_jsonl(single_out)}
    for line in lines:
        assert line["result"]["memory"]["device"].startswith("cuda"), line["result"]["memory"]
        assert line["result"]["emotion"]["primary"] == cpu[line["id"]]["emotion"]["primary"]


def test_a_strategy_lightning_does_not_know_exits_2(tmp_path, offline_config, batch_inputs):
    inputs = write_jsonl(tmp_path / "in.jsonl", batch_inputs[:2])
    result = CliRunner().invoke(cli, ["batch", str(inputs), "--out", str(tmp_path / "o.jsonl"),
                                      "--strategy", "nonsense", "--config", str(offline_config)])
    assert result.exit_code == 2
    assert "cannot run with accelerator='cpu', devices=1, num_nodes=1, strategy='nonsense'" in result.output
    assert "Traceback" not in result.output


async def test_a_batch_can_start_from_inside_a_running_event_loop(tmp_path, offline_config, batch_inputs):
    from redheart_core.config import load_config
    from redheart_core.training.batch import run_batch

    inputs = write_jsonl(tmp_path / "in.jsonl", batch_inputs[:2])
    run = run_batch(load_config([offline_config]), inputs, tmp_path / "o.jsonl", progress=False)
    assert run.answered == 2 and run.written == 2
    assert [line["id"] for line in read_jsonl(tmp_path / "o.jsonl")] == ["d01", "d02"]


def test_a_batch_step_reads_its_texts_ahead_beside_the_device_worker(tmp_path, offline_config,
                                                                     batch_inputs, monkeypatch):
    import threading

    from redheart_core.analyzers.embedder import Embedder
    from redheart_core.config import load_config
    from redheart_core.training.batch import run_batch

    ahead: list[list[str]] = []
    real = Embedder.encodings

    def recording(self, texts):
        if threading.current_thread().name.startswith("redheart-cpu-beside"):
            ahead.append(list(texts))
        return real(self, texts)

    monkeypatch.setattr(Embedder, "encodings", recording)
    inputs = write_jsonl(tmp_path / "in.jsonl", batch_inputs[:6])
    run = run_batch(load_config([offline_config]), inputs, tmp_path / "o.jsonl", progress=False)
    assert run.answered == 6
    assert sorted(t for chunk in ahead for t in chunk) == sorted(r["text"] for r in batch_inputs[:6]), \
        "the step's texts are encoded ahead of their requests, as a batch call's are"
    lines = read_jsonl(tmp_path / "o.jsonl")
    assert [line["result"]["request_id"] for line in lines] == [line["id"] for line in lines]


def test_progress_counts_texts_on_stderr_and_ends_with_a_one_screen_summary(
        tmp_path, offline_config, batch_inputs):
    inputs = write_jsonl(tmp_path / "in.jsonl", batch_inputs[:6])
    out = tmp_path / "out.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "redheart_core", "batch", str(inputs), "--out", str(out),
         "--batch-size", "4", "--config", str(offline_config)],
        capture_output=True, text=True, timeout=600, env={**__import__("os").environ, "COLUMNS": "100"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "", "progress and summary stay off standard output"
    err = proc.stderr
    assert "analyzing texts" in err and "6/6" in err, err
    assert "batches" not in err and "it/s" not in err
    summary = err[err.index("6 new, 0 already done, 6 inputs"):]
    assert "holds 6 results (0 with a failed stage) and 0 errors" in " ".join(summary.split())
    for label in ("Bentham final score", "anticipated regret", "emotional valence"):
        assert label in summary
    assert len(summary.splitlines()) <= 24, "one screen"


def test_ctrl_c_ends_a_batch_with_130_and_interrupted(tmp_path, offline_config, batch_inputs):
    # enough records that the batch is still running when the signal lands (an answer takes
    # about 15 ms with the default model)
    many = [{"id": f"r{k}-{i}", "text": r["text"]} for k in range(20) for i, r in enumerate(batch_inputs)]
    inputs = write_jsonl(tmp_path / "in.jsonl", many)
    out = tmp_path / "out.jsonl"
    proc = batch_after_its_first_answer(inputs, out, offline_config, subprocess.PIPE)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().endswith("error: interrupted"), err
    assert "Traceback" not in err
