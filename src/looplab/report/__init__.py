"""Reports on finished and running jobs: leaderboard, anytime curves, failure modes, HTML and a live viewer."""
