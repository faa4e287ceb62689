"""ParkPatrol robots package."""
