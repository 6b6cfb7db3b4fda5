"""The built-in Red Heart analyzers, the shared embedder and the experience store.

Nothing heavy is imported here: :mod:`.plugin` registers the analyzers and each factory imports
numpy, torch and sentence-transformers only when it is called.
"""
