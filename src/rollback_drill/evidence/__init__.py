"""Evidence: the journal written while a drill runs, and the reports rendered from it."""
