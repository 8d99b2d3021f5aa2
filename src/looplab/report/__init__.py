"""Reports on jobs, finished or running: leaderboard, anytime curves, failure modes, HTML, live viewer."""
