"""What the GPU tests share: the host's real GPU list and the skip for machines without one."""

from __future__ import annotations

import pytest

from looplab.sandbox.gpu import host_gpus

HOST_GPUS = host_gpus()
needs_gpu = pytest.mark.skipif(not HOST_GPUS, reason="no NVIDIA GPU on this machine (no /dev/nvidia<N>)")
