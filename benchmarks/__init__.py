"""Benchmarks: each ``bench_*.py`` module has ``main()`` that prints its figures and compares
them against a baseline measured in the same run. ``make bench`` runs them all."""
