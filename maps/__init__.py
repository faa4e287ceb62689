"""ParkPatrol maps package."""
