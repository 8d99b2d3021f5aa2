"""Check a tour and print its length: python3 tourlen.py CITIES < tour."""
import math
import sys


def read_cities(path):
    with open(path) as fh:
        return [tuple(map(float, line.split())) for line in fh if line.strip()]


def tour_length(cities, order):
    if sorted(order) != list(range(len(cities))):
        raise ValueError(f"not a permutation of 0..{len(cities) - 1}")
    return sum(math.dist(cities[order[i]], cities[order[(i + 1) % len(order)]]) for i in range(len(order)))


if __name__ == "__main__":
    cities = read_cities(sys.argv[1])
    order = [int(x) for x in sys.stdin.read().split()]
    print(f"{tour_length(cities, order):.6f}")
