"""vitalskills.runtime."""
