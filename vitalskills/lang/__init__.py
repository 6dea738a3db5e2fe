"""vitalskills.lang."""
