"""Print a closed tour through the cities of /app/cities.txt: one city index per line.

Baseline: visit the cities in index order.
"""

with open("/app/cities.txt") as fh:
    n = sum(1 for line in fh if line.strip())
for i in range(n):
    print(i)
