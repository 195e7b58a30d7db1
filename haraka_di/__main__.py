"""``python -m haraka_di``: the ``haraka`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
