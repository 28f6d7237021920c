"""``flotilla webhook``: the admission server, the third Flotilla component next to the watcher
and the workers.

Stateless and horizontally scalable: every replica answers any AdmissionReview on its own.
:mod:`webhook.review` parses AdmissionReview v1 and builds the response; :mod:`webhook.dispatch`
routes a request by (group, kind, operation) to a small handler (a pure function: request in,
verdict out; :mod:`webhook.protection`, :mod:`webhook.podreadiness`); :mod:`webhook.certs` makes
the CA and serving certificate, :mod:`webhook.certstore` keeps them in a Secret and in the
webhook configurations' ``caBundle``; :mod:`webhook.server` serves HTTPS and
:mod:`webhook.command` is the command line.
"""
