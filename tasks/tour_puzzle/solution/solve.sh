#!/bin/bash
# Reference: nearest-neighbour start, then 2-opt and Or-opt moves until no move improves.
cp /solution/tour_ref.py /app/tour.py
