"""Reference Connect-3 network: a mirror-symmetric convolutional net with one shared column scorer.

Three 3x3 convolutions (4 channels, zero padding) whose kernels are constrained to
be left-right symmetric (the outer kernel columns share their weights), then one
(4 rows x 1 column) readout applied to every column with the same weights. The
whole network is therefore exactly equivariant under mirroring the board, which
the game is, and every column is scored by the same small function of its
neighbourhood: 269 parameters.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class MirrorConv(nn.Module):
    """A 3x3 convolution whose left and right kernel columns are the same tensor."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        std = (2.0 / (cin * 9)) ** 0.5
        self.side = nn.Parameter(torch.randn(cout, cin, 3, 1) * std)
        self.mid = nn.Parameter(torch.randn(cout, cin, 3, 1) * std)
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x):
        w = torch.cat([self.side, self.mid, self.side], dim=3)
        return F.conv2d(x, w, self.bias, padding=1)


class Net(nn.Module):
    def __init__(self, channels: int = 4, layers: int = 3):
        super().__init__()
        sizes = [2] + [channels] * layers
        self.convs = nn.ModuleList([MirrorConv(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)])
        self.head = nn.Conv2d(channels, 1, kernel_size=(4, 1))  # one score per column, shared

    def forward(self, x):
        for conv in self.convs:
            x = F.relu(conv(x))
        return self.head(x).flatten(1)


def build_model() -> nn.Module:
    return Net()
