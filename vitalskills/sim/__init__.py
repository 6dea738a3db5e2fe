"""vitalskills.sim."""
