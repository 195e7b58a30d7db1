"""Imported by a CLI test: the import itself fails (a missing package)."""

import haraka_di_no_such_package  # noqa: F401
