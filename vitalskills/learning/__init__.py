"""vitalskills.learning."""
