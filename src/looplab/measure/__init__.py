"""Trustworthy measurement: paired timing, instruction counts, the measurement lock, noise statistics.

``timing.measure_pair`` times a baseline against a candidate in interleaved pairs,
``instructions.count_instructions`` counts with callgrind, ``lock.MeasurementLock``
keeps timers apart, ``stats`` holds the statistics, ``calibrate`` caches a task's
reference speedup per machine, and ``cli.app`` is ``looplab measure``.
"""
