"""Records of a job folder: the layout (paths), the typed records, checkpoints, ATIF export, their CLI."""
