"""Property tests: any text, any LLM reading -> every number in its documented range."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redheart_core.schema import EMOTIONS, SCENARIO_TYPES, InitialAnalysis

from .conftest import run_all
from .ranges import check_outputs

WORDS = ["I", "my", "friend", "our", "town", "lost", "won", "furious", "happy", "now", "maybe",
         "killed", "unfair", "we", "나는", "친구가", "우리", "마을", "죽었다", "!", ".", ",", "but"]

texts = st.one_of(
    st.text(min_size=1, max_size=160),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=30).map(" ".join),
).filter(lambda t: t.strip())

numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5))
readings = st.builds(
    lambda emotions, stakeholders, scenarios, ethics: InitialAnalysis.from_dict({
        "emotions": emotions, "stakeholders": stakeholders, "scenarios": scenarios, "ethics": ethics}),
    st.dictionaries(st.sampled_from(list(EMOTIONS) + ["pride", ""]), numbers, max_size=9),
    st.lists(st.text(max_size=20), max_size=12),
    st.lists(st.fixed_dictionaries({
        "type": st.sampled_from(list(SCENARIO_TYPES) + ["weird"]),
        "action": st.text(max_size=40),
        "outcome": st.text(max_size=40),
    }), max_size=4),
    st.lists(st.text(max_size=30), max_size=5),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts, initial=st.one_of(st.none(), readings))
def test_every_number_is_in_range_for_any_text_and_reading(analyzers, text, initial):
    out, result = run_all(analyzers, text, initial)
    check_outputs(out)
    assert result.to_dict()["emotion"]["primary"] in EMOTIONS
