"""A NATS credentials file as ``nsc`` writes one, for tests of ``NATS_CREDS`` handling.

Well-formed (a user JWT block and an nkey seed block) but not valid: the JWT is not signed by
any account and the seed is not a real key, so a server would refuse it.
"""

SAMPLE_CREDS = """-----BEGIN NATS USER JWT-----
eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln
------END NATS USER JWT------

************************* IMPORTANT *************************
NKEY Seed printed below can be used to sign and prove identity.

-----BEGIN USER NKEY SEED-----
SUAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
------END USER NKEY SEED------
"""
