"""Inference thread count: the environment override, its default and a clear error for bad values."""

from __future__ import annotations

import os

import pytest

from vision.backends import _threads
from vision.models import ModelError


def test_threads_default_is_all_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARKPATROL_VISION_THREADS", raising=False)
    assert _threads() == max(1, os.cpu_count() or 1)
    monkeypatch.setenv("PARKPATROL_VISION_THREADS", "0")
    assert _threads() == max(1, os.cpu_count() or 1)


def test_threads_override_and_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARKPATROL_VISION_THREADS", "3")
    assert _threads() == 3
    monkeypatch.setenv("PARKPATROL_VISION_THREADS", "two")
    with pytest.raises(ModelError, match="PARKPATROL_VISION_THREADS='two'"):
        _threads()
