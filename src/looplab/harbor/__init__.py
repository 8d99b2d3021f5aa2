"""Harbor's task-format features beyond one instruction and one test.sh: healthchecks,
artifacts and collect hooks, multi-step tasks, and the task linter."""
