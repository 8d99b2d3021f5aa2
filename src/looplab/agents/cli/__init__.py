"""CLI coding agents run inside the sandbox: the agent (``agent``), its options (``options``), the tools
it knows (``tools``), its preflight checks (``preflight``), native-log conversion (``logs``) and the
log follower (``tailer``).
Their model calls go through the trial's model gateway (``looplab.gateway``)."""
