"""The results file: append-and-flush per record, torn lines cut, parts merged, ids once."""

from __future__ import annotations

import json

from redheart_core.training.results import ResultsFile


def ids_in(path):
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_writer_appends_each_record_once_and_flushes(tmp_path):
    results = ResultsFile(tmp_path / "out.jsonl")
    writer = results.open_for_rank(0, 1)
    assert writer.write({"id": "a", "result": {"x": 1}})
    assert (tmp_path / "out.jsonl").read_text().count("\n") == 1  # visible before close
    assert not writer.write({"id": "a", "result": {"x": 2}})
    writer.write({"id": "b", "error": {"type": "E", "message": "m"}})
    writer.close()
    assert ids_in(results.path) == ["a", "b"]
    assert results.done_ids() == {"a", "b"}
    summary = results.summary()
    assert (summary.results, summary.errors) == (1, 1)


def test_a_torn_last_line_is_cut_before_appending(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": "a", "result": {}}\n{"id": "b", "res')
    results = ResultsFile(path)
    assert results.done_ids() == {"a"}
    writer = results.open_for_rank(0, 1)
    writer.write({"id": "b", "result": {}})
    writer.close()
    assert ids_in(path) == ["a", "b"]


def test_parts_of_an_interrupted_multi_rank_run_are_merged_once(tmp_path):
    results = ResultsFile(tmp_path / "out.jsonl")
    results.path.write_text('{"id": "a", "result": {}}\n')
    for rank, ids in ((0, ["b", "c"]), (1, ["d", "a"])):
        writer = results.open_for_rank(rank, 2)
        for rid in ids:
            writer.write({"id": rid, "result": {}})
        writer.close()
    results.part_path(1).open("a").write('{"id": "e", "resu')  # killed mid-line
    assert results.done_ids() == {"a", "b", "c", "d"}
    results.consolidate()
    assert ids_in(results.path) == ["a", "b", "c", "d"]
    assert results.parts() == []
