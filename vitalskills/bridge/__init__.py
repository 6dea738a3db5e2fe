"""vitalskills.bridge."""
