"""Alarms and incidents: lifecycle, correlation, dispatch policy, escalation, zone arming, REST API."""
