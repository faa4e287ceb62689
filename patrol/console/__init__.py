"""Security staff console: static web assets served at /console/."""
