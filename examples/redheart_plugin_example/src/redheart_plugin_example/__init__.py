"""redheart-plugin-example: registers the ``urgency`` analyzer.

This module is what the entry point names, so it is imported whenever redheart loads its
plugins (``redheart --help`` included). It imports nothing heavy: the analyzer module is
imported by the factory, the first time a config actually uses the analyzer.
"""

from redheart_core import hookimpl

from .options import UrgencyOptions


def build_urgency(options: UrgencyOptions):
    """The factory: called once per pipeline with the validated ``analyzer_options.urgency``."""
    from .urgency import UrgencyAnalyzer

    return UrgencyAnalyzer(options)


@hookimpl
def redheart_register_analyzers(register):
    register(
        "urgency",
        build_urgency,
        options=UrgencyOptions,
        description="how urgent the situation sounds: time-pressure words, deadlines, exclamations",
    )
