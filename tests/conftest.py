"""Root test configuration. Its presence (no __init__.py) puts tests/ on sys.path, so test
modules can ``import builders`` (tests/builders.py)."""
