"""CLI coding agents run inside the sandbox: the agent (``agent``), the tools it knows (``tools``), its
preflight checks (``preflight``), the egress proxy (``proxy``) and native-log conversion (``logs``).
Their model calls go through the trial's model gateway (``looplab.gateway``)."""
