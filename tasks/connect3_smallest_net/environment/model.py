"""The network that plays Connect-3 (5 columns x 4 rows, three in a row wins). Edit freely.

The scorer calls ``build_model()``, loads ``/app/weights.pt`` into it (a state_dict,
strictly) and exports it with torch.fx: input a float tensor (batch, 2, 4, 5) --
plane 0 the stones of the player to move, plane 1 the opponent's, row 0 the
bottom -- output one score per column, shape (batch, 5). The task's instructions say
what counts as a parameter and which operations are allowed.

Starting point: a plain two-hidden-layer perceptron on the 40 input cells.
"""

import torch.nn as nn


def build_model() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(40, 128),
        nn.ReLU(),
        nn.Linear(128, 128),
        nn.ReLU(),
        nn.Linear(128, 5),
    )
