"""The training data in the tree: every task reads, and dev is a stable, group-wise split."""

from __future__ import annotations

import gzip

import pytest

from redheart_core.model.corpus import CorpusError, is_dev, load_corpus, load_task
from redheart_core.model.tasks import TASKS

from .conftest import DATA


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(DATA)


def test_every_task_has_train_and_dev_examples(corpus):
    assert set(corpus) == set(TASKS)
    for task, data in corpus.items():
        assert len(data.train) > 300 and len(data.dev) >= 40, task
        assert len(data.dev) < len(data.train), task


def test_dev_never_shares_a_group_with_train(corpus):
    for task, key in (("acceptability", lambda e: e.text), ("deontology", lambda e: e.text),
                      ("virtue", lambda e: e.text), ("utility", lambda e: (e.text, e.worse))):
        train = {key(e) for e in corpus[task].train}
        assert not train & {key(e) for e in corpus[task].dev}, task


def test_the_split_is_a_stable_hash_of_the_group():
    assert is_dev("I told my grandmother the truth.") == is_dev("I told my grandmother the truth.")
    share = sum(is_dev(f"scenario {i}") for i in range(5000)) / 5000
    assert 0.08 < share < 0.12


def test_commonsense_labels_become_acceptability(corpus):
    first = corpus["acceptability"].train[0]
    assert first.text.startswith("I went to the principal's office") and first.target == (0.0,)


def test_emobank_ratings_map_onto_minus_one_to_one(corpus):
    values = [v for e in corpus["vad"].train for v in e.target]
    assert min(values) >= -1.0 and max(values) <= 1.0
    assert len(corpus["vad"].dev) == 1000  # the file's own dev rows


def test_a_bad_label_names_the_file_and_the_row(tmp_path):
    folder = tmp_path / "ethics"
    folder.mkdir()
    with gzip.open(folder / "justice_train.csv.gz", "wt") as f:
        f.write("label,scenario\n1,I deserve a raise because I work hard.\nyes,I deserve cake.\n")
    with pytest.raises(CorpusError, match=r"justice_train.csv.gz row 3: label 'yes' is not 0 or 1"):
        load_task(tmp_path, "justice")
