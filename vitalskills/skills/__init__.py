"""vitalskills.skills."""
