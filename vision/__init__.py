"""ParkPatrol vision package."""
