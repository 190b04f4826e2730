"""datasoc package."""
