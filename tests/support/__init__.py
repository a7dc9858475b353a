"""Helpers any test folder may import (`tests/` is put on sys.path by the root conftest)."""
