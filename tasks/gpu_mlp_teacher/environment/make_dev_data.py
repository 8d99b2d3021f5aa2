"""Build step: a development world (fixed seed) in DIR: train.pt, test_x.pt, test_y.pt."""

import sys

import torch
import world

train, test_x, test_y = world.generate(20261202, 0.5)
torch.save(train, f"{sys.argv[1]}/train.pt")
torch.save(test_x, f"{sys.argv[1]}/test_x.pt")
torch.save(test_y, f"{sys.argv[1]}/test_y.pt")
