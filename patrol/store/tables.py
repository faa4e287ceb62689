"""Imports every module that defines tables, so `Base.metadata` is complete for migrations."""

from __future__ import annotations

import patrol.alarms.tables
import patrol.audit
import patrol.auth
import patrol.fleet.registry
import patrol.history
import patrol.patrolling
import patrol.sensors.tables  # noqa: F401
