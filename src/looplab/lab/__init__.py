"""The lab: an autonomous change → evaluate → keep/revert loop on a user's own code, in git.

``lab.toml`` (``config``) names the pipeline, the backend, the agent, stopping
conditions and the noise policy; ``loop.LabLoop`` runs it; ``cli`` is ``looplab lab``.
"""
