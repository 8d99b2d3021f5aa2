"""Verification: the sealed verifier, reward-file parsing, reward formulas, measured rewards."""
