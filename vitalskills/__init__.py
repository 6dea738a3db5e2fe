"""vitalskills."""
