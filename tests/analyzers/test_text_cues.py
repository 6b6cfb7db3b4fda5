"""A text's lexical cues: read once per text and shared by every analyzer, so nobody may change
them for the next request."""

from __future__ import annotations

import pytest

from redheart_core.analyzers.text_cues import read_cues


def test_the_same_text_gives_the_same_cues_object():
    text = "My sister and our whole village need help now."
    assert read_cues(text) is read_cues(text)


def test_cached_cues_cannot_be_changed_by_a_reader():
    cues = read_cues("My friend and I must decide tonight.")
    with pytest.raises(TypeError):
        cues.levels["self"] = 99  # type: ignore[index]
    assert read_cues("My friend and I must decide tonight.").levels == cues.levels


def test_levels_count_who_the_text_speaks_of():
    levels = read_cues("My sister and our whole village need help now.").levels
    assert levels["other"] >= 1 and levels["community"] >= 1
    assert read_cues("My sister and our whole village need help now.").urgency > 0
