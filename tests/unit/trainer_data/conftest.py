"""One Anny body model shared by the trainer-data tests (its creation is the slow part)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def anny():
    from trainer.synthetic import default_body_model

    return default_body_model()
