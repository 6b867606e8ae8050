"""kernel.ids.new_id makes the ids the copies it replaced made: a prefix and unguessable URL-safe text."""

from __future__ import annotations

import base64
import re

import pytest

from kernel.ids import LONG, SHORT, new_id


@pytest.mark.parametrize(("size", "chars"), [(LONG, 22), (SHORT, 16)])
def test_a_prefix_and_the_random_bytes_as_url_safe_text(size: int, chars: int) -> None:
    ids = {new_id("cns", size=size) for _ in range(200)}
    assert len(ids) == 200
    for value in ids:
        prefix, _, random = value.partition("_")
        assert prefix == "cns" and re.fullmatch(r"[A-Za-z0-9_-]+", random) and len(random) == chars
        assert len(base64.urlsafe_b64decode(random + "=" * (-len(random) % 4))) == size


def test_the_default_is_the_long_form() -> None:
    assert len(new_id("env").partition("_")[2]) == 22


@pytest.mark.parametrize("prefix", ["", "Env", "env_", "1env", "toolongprefix", "e v"])
def test_a_prefix_that_could_blur_the_id_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        new_id(prefix)


def test_fewer_than_twelve_random_bytes_are_refused() -> None:
    with pytest.raises(ValueError, match="12"):
        new_id("env", size=8)
