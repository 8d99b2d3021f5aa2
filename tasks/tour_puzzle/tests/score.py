"""Score a tour: linear between the baseline length and the best-known length."""
import json
import sys

sys.path.insert(0, "/tests")
from tourlen import read_cities, tour_length  # noqa: E402

BASELINE = float(open("/tests/baseline_length.txt").read())
BEST = float(open("/tests/best_length.txt").read())
rc, cities_path, tour_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if rc != 0:
    print(json.dumps({"reward": 0.0, "correct": False, "reason": f"tour.py exited {rc} (or timed out)"}))
    sys.exit(0)
try:
    order = [int(x) for x in open(tour_path).read().split()]
    length = tour_length(read_cities(cities_path), order)
except (ValueError, OSError) as exc:
    print(json.dumps({"reward": 0.0, "correct": False, "reason": f"invalid tour: {exc}"}))
    sys.exit(0)
reward = max(0.0, min(1.0, (BASELINE - length) / (BASELINE - BEST)))
print(json.dumps({"reward": round(reward, 4), "correct": True, "tour_length": round(length, 6)}))
