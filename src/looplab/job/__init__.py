"""Jobs: tasks × agents × attempts, run into one job folder, resumable."""
