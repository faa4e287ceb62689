"""Imports every module that defines tables, so `Base.metadata` is complete for migrations."""

from __future__ import annotations

import patrol.auth
import patrol.fleet.registry  # noqa: F401
