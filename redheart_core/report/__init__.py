"""Reports for people: one analysis or a whole results file, in the terminal or as a
self-contained HTML page (inline CSS, static SVG charts, no network fetches).

Imports nothing heavy: a report is built from result data alone.
"""
