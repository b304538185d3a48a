"""``python -m trainer ...`` (see :mod:`trainer.cli`)."""

from __future__ import annotations

if __name__ == "__main__":
    from trainer.cli import main

    raise SystemExit(main())
