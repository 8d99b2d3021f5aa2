"""Nearest neighbour + 2-opt + Or-opt local search on the cities of /app/cities.txt."""
import math

with open("/app/cities.txt") as fh:
    P = [tuple(map(float, line.split())) for line in fh if line.strip()]
n = len(P)
D = [[math.dist(a, b) for b in P] for a in P]

tour, left = [0], set(range(1, n))
while left:
    nxt = min(left, key=lambda j: D[tour[-1]][j])
    tour.append(nxt)
    left.remove(nxt)


def length(t):
    return sum(D[t[i]][t[(i + 1) % n]] for i in range(n))


improved = True
while improved:
    improved = False
    for i in range(n - 1):
        for j in range(i + 2, n if i else n - 1):
            a, b, c, d = tour[i], tour[i + 1], tour[j], tour[(j + 1) % n]
            if D[a][c] + D[b][d] < D[a][b] + D[c][d] - 1e-12:
                tour[i + 1 : j + 1] = reversed(tour[i + 1 : j + 1])
                improved = True
    for seg in (1, 2, 3):
        for i in range(n):
            s = [tour[(i + k) % n] for k in range(seg)]
            rest = [c for c in tour if c not in s]
            prev, nxt = tour[(i - 1) % n], tour[(i + seg) % n]
            gain = D[prev][s[0]] + D[s[-1]][nxt] - D[prev][nxt]
            best = None
            for k in range(len(rest)):
                a, b = rest[k], rest[(k + 1) % len(rest)]
                for cand in (s, s[::-1]):
                    cost = D[a][cand[0]] + D[cand[-1]][b] - D[a][b]
                    if cost < gain - 1e-12 and (best is None or cost < best[0]):
                        best = (cost, k, cand)
            if best:
                _, k, cand = best
                tour = rest[: k + 1] + cand + rest[k + 1 :]
                improved = True
for c in tour:
    print(c)
