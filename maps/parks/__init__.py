"""Shipped park maps (GeoJSON) and the scripts that generate them deterministically."""
