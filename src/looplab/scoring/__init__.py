"""Scoring after the fact: a trial's checkpoints rescored by the sealed verifier (never seen by agents)."""
