"""Local check: run tour.py, validate the tour and print its length."""
import subprocess
import sys

sys.path.insert(0, "/app")
from tourlen import read_cities, tour_length  # noqa: E402

out = subprocess.run([sys.executable, "/app/tour.py"], capture_output=True, text=True, timeout=60)
if out.returncode != 0:
    sys.exit(f"tour.py failed: {out.stderr[-500:]}")
order = [int(x) for x in out.stdout.split()]
print(f"tour length: {tour_length(read_cities('/app/cities.txt'), order):.4f}")
