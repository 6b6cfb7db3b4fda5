"""Labelled JSONL: every bad record is named by file, line and field; splits are seeded."""

from __future__ import annotations

import json

import pytest

from redheart_core.errors import RedheartError
from redheart_core.schema import BENTHAM_DIMENSIONS, EMOTIONS
from redheart_core.training.data import DatasetError, read_records, split_records
from redheart_core.training.targets import TARGETS


def write_lines(path, *lines):
    path.write_text("\n".join(l if isinstance(l, str) else json.dumps(l) for l in lines) + "\n")
    return path


def test_emotion_records_map_labels_to_the_canonical_order(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", {"text": "I won!", "label": "joy"}, "",
                       {"text": "He lied to me.", "label": "anger"})
    records = read_records(path, TARGETS["emotion"])
    assert [r.target for r in records] == [EMOTIONS.index("joy"), EMOTIONS.index("anger")]
    assert [r.line for r in records] == [1, 3]


@pytest.mark.parametrize("record, field, fragment", [
    ({"label": "joy"}, "text", "missing or empty"),
    ({"text": "  ", "label": "joy"}, "text", "missing or empty"),
    ({"text": "x"}, "label", "missing"),
    ({"text": "x", "label": "happy"}, "label", "unknown label 'happy' (valid: joy, trust"),
])
def test_a_bad_emotion_record_names_its_line_and_field(tmp_path, record, field, fragment):
    path = write_lines(tmp_path / "d.jsonl", {"text": "fine", "label": "joy"}, record)
    with pytest.raises(DatasetError) as info:
        read_records(path, TARGETS["emotion"])
    assert isinstance(info.value, RedheartError)
    assert f"d.jsonl line 2, field '{field}'" in str(info.value)
    assert fragment in str(info.value)


def test_invalid_json_names_the_line(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", {"text": "a", "regret": 0.5}, '{"text": "b", "regret": ')
    with pytest.raises(DatasetError, match=r"line 2: not valid JSON"):
        read_records(path, TARGETS["regret"])


def test_a_non_object_line_is_refused(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", "[1, 2]")
    with pytest.raises(DatasetError, match="line 1: expected a JSON object, got list"):
        read_records(path, TARGETS["emotion"])


def test_bentham_records_need_every_dimension_in_range(tmp_path):
    good = {d: 0.5 for d in BENTHAM_DIMENSIONS}
    path = write_lines(tmp_path / "b.jsonl", {"text": "a", "bentham": good})
    assert read_records(path, TARGETS["bentham"])[0].target == tuple([0.5] * 10)
    missing = dict(good)
    del missing["purity"]
    cases = [
        (missing, "field 'bentham.purity': missing"),
        ({**good, "joy": 0.1}, "field 'bentham.joy': unknown dimension"),
        ({**good, "extent": 1.5}, "field 'bentham.extent': 1.5 is outside 0..1"),
        ({**good, "duration": "long"}, "field 'bentham.duration': expected a number in 0..1"),
        ([0.5] * 10, "field 'bentham': expected an object"),
    ]
    for value, message in cases:
        write_lines(path, {"text": "a", "bentham": value})
        with pytest.raises(DatasetError, match="line 1, " + message.replace(".", r"\.").replace("(", r"\(")):
            read_records(path, TARGETS["bentham"])


@pytest.mark.parametrize("value", [-0.1, 1.01, True, None, float("nan")])
def test_regret_must_be_a_number_in_unit_range(tmp_path, value):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"text": "a", "regret": value}) + "\n")
    with pytest.raises(DatasetError, match="line 1, field 'regret'"):
        read_records(path, TARGETS["regret"])


def test_missing_and_empty_files_are_named(tmp_path):
    with pytest.raises(DatasetError, match="nope.jsonl: file not found"):
        read_records(tmp_path / "nope.jsonl", TARGETS["emotion"])
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(DatasetError, match="empty.jsonl: holds no records"):
        read_records(tmp_path / "empty.jsonl", TARGETS["emotion"])


def test_split_is_seeded_stratified_and_disjoint(tmp_path):
    lines = [{"text": f"{label} example {i}", "label": label} for label in EMOTIONS for i in range(10)]
    path = write_lines(tmp_path / "d.jsonl", *lines)
    records = read_records(path, TARGETS["emotion"])
    train, val = split_records(records, 0.2, seed=3, target=TARGETS["emotion"])
    again = split_records(records, 0.2, seed=3, target=TARGETS["emotion"])
    other = split_records(records, 0.2, seed=4, target=TARGETS["emotion"])
    assert (train, val) == again
    assert val != other[1]
    assert len(val) == 14 and len(train) == 56
    assert {r.target for r in val} == set(range(7))
    assert not {r.line for r in train} & {r.line for r in val}
