"""dedupe(lines) -> the lines with repeats removed, first occurrences kept, order preserved."""


def dedupe(lines):
    out = []
    for line in lines:
        if line not in out:
            out.append(line)
    return out
