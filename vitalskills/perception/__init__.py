"""vitalskills.perception."""
