"""Local check: correctness on small inputs, then a timing on 20,000 lines."""
import subprocess
import sys

sys.path.insert(0, "/app")
from dedupe import dedupe  # noqa: E402

assert dedupe([]) == []
assert dedupe(["a", "b", "a", "c", "b"]) == ["a", "b", "c"]
assert dedupe(["x"] * 5) == ["x"]
print("correct on small inputs")
out = subprocess.run([sys.executable, "/app/bench.py", "/app", "20000", "1"], capture_output=True, text=True)
print(f"time for 20,000 lines: {float(out.stdout.split()[-1]):.4f} s")
