"""The Red Heart model: one fine-tuned sentence encoder and the heads that read its vectors.

What people judged, learned from public labelled data (ETHICS, EmoBank, the project's own
emotion sentences): moral acceptability, hedonic utility, valence / arousal / dominance and the
seven emotions. The shipped weights (``weights/``) load on top of the bundled all-MiniLM-L6-v2;
``redheart train model`` rebuilds them from ``data/``. This package imports nothing heavy;
its submodules import torch where they need it.
"""
