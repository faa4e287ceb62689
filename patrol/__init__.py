"""ParkPatrol patrol package."""
