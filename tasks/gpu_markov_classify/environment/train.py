"""The starting trainer of gpu_markov_classify: symbol counts, a linear classifier, SGD, fixed steps.

Reads ``DATA/train.pt`` ({"x": N x 48 symbols in 0..11, "y": N labels in 0..9}) and
``DATA/test_x.pt``, trains within ``--budget`` wall-clock seconds (start-up included) on the GPU,
and writes the predicted labels of the held-out sequences to ``OUT/pred.pt`` (an integer tensor [N_test]).
"""

import argparse
import os
import time

import torch

T0 = time.monotonic()
ap = argparse.ArgumentParser()
ap.add_argument("--data", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--budget", type=float, required=True)
a = ap.parse_args()
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
torch.manual_seed(0)
torch.use_deterministic_algorithms(True, warn_only=True)  # the same data gives the same predictions
dev = "cuda" if torch.cuda.is_available() else "cpu"
if dev == "cpu":
    torch.set_num_threads(1)  # CPU matrix products split over threads are not reproducible
train = torch.load(os.path.join(a.data, "train.pt"), weights_only=True)
test_x = torch.load(os.path.join(a.data, "test_x.pt"), weights_only=True).to(dev)
SYMBOLS, CLASSES = 12, 10


def features(seq: torch.Tensor) -> torch.Tensor:
    """How often each symbol occurs (order ignored)."""
    return torch.nn.functional.one_hot(seq, SYMBOLS).float().mean(dim=1)


x, y = features(train["x"].to(dev)), train["y"].to(dev)
model = torch.nn.Linear(SYMBOLS, CLASSES).to(dev)
opt = torch.optim.SGD(model.parameters(), lr=0.5)
g = torch.Generator(device=dev).manual_seed(0)
for step in range(2000):
    idx = torch.randint(0, x.shape[0], (256,), generator=g, device=dev)
    loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
    opt.zero_grad()
    loss.backward()
    opt.step()
    if time.monotonic() - T0 > a.budget - 5:
        break
with torch.no_grad():
    pred = model(features(test_x)).argmax(dim=-1)
torch.save(pred.cpu(), os.path.join(a.out, "pred.pt"))
