"""The Textual TUI: the only package that imports Textual (tests/unit/test_layering.py)."""
