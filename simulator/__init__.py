"""ParkPatrol simulator package."""
