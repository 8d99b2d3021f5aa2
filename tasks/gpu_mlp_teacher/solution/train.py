"""Reference trainer of gpu_mlp_teacher: a wider, deeper MLP, AdamW, large batches, a cosine
schedule on the wall clock, trained until a few seconds before the budget."""

import argparse
import math
import os
import time

import torch

T0 = time.monotonic()
ap = argparse.ArgumentParser()
ap.add_argument("--data", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--budget", type=float, required=True)
a = ap.parse_args()
torch.manual_seed(0)
dev = "cuda" if torch.cuda.is_available() else "cpu"
torch.backends.cuda.matmul.allow_tf32 = True
train = torch.load(os.path.join(a.data, "train.pt"), weights_only=True)
x, y = train["x"].to(dev), train["y"].to(dev)
test_x = torch.load(os.path.join(a.data, "test_x.pt"), weights_only=True).to(dev)
n_val = min(20000, x.shape[0] // 10)
xv, yv, xt, yt = x[:n_val], y[:n_val], x[n_val:], y[n_val:]

width = 512
model = torch.nn.Sequential(
    torch.nn.Linear(x.shape[1], width),
    torch.nn.SiLU(),
    torch.nn.Linear(width, width),
    torch.nn.SiLU(),
    torch.nn.Linear(width, width),
    torch.nn.SiLU(),
    torch.nn.Linear(width, 1),
).to(dev)
peak_lr, batch = 2e-3, 4096
opt = torch.optim.AdamW(model.parameters(), lr=peak_lr, weight_decay=1e-4)
train_s = a.budget - 8.0 - (time.monotonic() - T0)  # leave time for the predictions
start = time.monotonic()
best, best_state = float("inf"), None
step = 0
while True:
    frac = (time.monotonic() - start) / max(train_s, 1.0)
    if frac >= 1.0:
        break
    lr = peak_lr * min(1.0, step / 200) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
    for group in opt.param_groups:
        group["lr"] = lr
    idx = torch.randint(0, xt.shape[0], (batch,), device=dev)
    loss = ((model(xt[idx]).squeeze(-1) - yt[idx]) ** 2).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    step += 1
    if step % 500 == 0:
        with torch.no_grad():
            v = float(((model(xv).squeeze(-1) - yv) ** 2).mean())
        if v < best:
            best, best_state = v, {k: t.clone() for k, t in model.state_dict().items()}
if best_state is not None:
    with torch.no_grad():
        v = float(((model(xv).squeeze(-1) - yv) ** 2).mean())
    if best < v:
        model.load_state_dict(best_state)
with torch.no_grad():
    pred = torch.cat([model(test_x[i : i + 65536]).squeeze(-1) for i in range(0, test_x.shape[0], 65536)])
torch.save(pred.cpu(), os.path.join(a.out, "pred.pt"))
