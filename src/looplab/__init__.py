"""looplab: a lab for autonomous research loops.

Benchmark tasks in the Harbor/AutoLab format, run by agents inside bubblewrap
sandboxes, verified in a sealed way, measured so the numbers hold on any machine.
"""

__version__ = "0.1.0"
