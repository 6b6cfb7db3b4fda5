"""Training the analyzer heads and batch analysis across devices and nodes, on Lightning.

Submodules import torch and Lightning; this package itself imports nothing heavy, so the CLI
can name it without slowing ``redheart --help``.
"""
