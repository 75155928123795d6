"""The catalogs of user-facing text, one module per language (`en` is complete and the
fallback). Every language has the same keys and placeholders; tests/test_locales.py checks it."""
