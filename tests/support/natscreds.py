"""NATS sign-in material for tests: a sample credentials file and the dev server's users.

``SAMPLE_CREDS`` is a NATS credentials file as ``nsc`` writes one, for tests of ``NATS_CREDS``
handling: well-formed (a user JWT block and an nkey seed block) but not valid: the JWT is not
signed by any account and the seed is not a real key, so a server would refuse it.
``component_url`` is the URL a component signs in with on the session's NATS server.
"""

from __future__ import annotations

from flotilla.devcluster.env import DevEnvironment


def component_url(dev_env: DevEnvironment, user: str) -> str:
    """``user``'s URL on the session's NATS server; the given NATS_URL when the session runs none."""
    if dev_env.nats is None:  # USE_EXISTING_CLUSTER: whatever NATS_URL signs in as
        return dev_env.nats_url
    return dev_env.nats.user_url(user)


SAMPLE_CREDS = """-----BEGIN NATS USER JWT-----
eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln
------END NATS USER JWT------

************************* IMPORTANT *************************
NKEY Seed printed below can be used to sign and prove identity.

-----BEGIN USER NKEY SEED-----
SUAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
------END USER NKEY SEED------
"""
