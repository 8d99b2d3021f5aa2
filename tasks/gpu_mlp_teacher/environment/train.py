"""The starting trainer of gpu_mlp_teacher: a small MLP, plain SGD, a fixed number of steps.

Reads ``DATA/train.pt`` ({"x": N x 32, "y": N}) and ``DATA/test_x.pt``, trains within
``--budget`` wall-clock seconds (start-up included) on the GPU, and writes the predictions for
the held-out inputs to ``OUT/pred.pt`` (a float tensor of shape [N_test]).
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
x, y = train["x"].to(dev), train["y"].to(dev)
test_x = torch.load(os.path.join(a.data, "test_x.pt"), weights_only=True).to(dev)

model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)).to(dev)
opt = torch.optim.SGD(model.parameters(), lr=0.02)
g = torch.Generator(device=dev).manual_seed(0)
for step in range(3000):
    idx = torch.randint(0, x.shape[0], (256,), generator=g, device=dev)
    loss = ((model(x[idx]).squeeze(-1) - y[idx]) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    if time.monotonic() - T0 > a.budget - 5:
        break
with torch.no_grad():
    pred = torch.cat([model(test_x[i : i + 65536]).squeeze(-1) for i in range(0, test_x.shape[0], 65536)])
torch.save(pred.cpu(), os.path.join(a.out, "pred.pt"))
