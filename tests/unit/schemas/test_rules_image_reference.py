"""Image names as docker/distribution v2.8.2's ``reference.ParseNormalizedNamed`` judges them
(kruise's ImagePullJob / NodeImage webhooks, through ``imagepull.image_reference_error``).

Verdicts worked out by hand from ``reference/regexp.go`` (the grammar), ``reference/normalize.go``
(``splitDockerDomain``, the lowercase check), ``reference/reference.go`` ``Parse`` (uppercase,
``NameTotalLengthMax`` 255) and go-digest's ``Validate``; Go's regexp is RE2, so ``\\w`` is ASCII and
``$`` is the end of the text. Long inputs are here for the verdict only (no timing is asserted):
the grammar is written so they are decided in linear time.
"""

from __future__ import annotations

import pytest

from schemas.kruise.rules.imagepull import image_reference_error

BAD = "invalid reference format"
TOO_LONG = "repository name must not be more than 255 characters"
LOWERCASE = "invalid reference format: repository name must be lowercase"

CASES: list[tuple[str, str, str | None]] = [
    ("plain", "nginx", None),
    ("tag", "nginx:1.25-alpine", None),
    ("registry with port, path, tag", "registry.local:5000/team/app:v1", None),
    ("uppercase domain", "Registry.Example.com/app", None),
    ("localhost", "localhost/app", None),
    ("separators", "a_b.c-d--e__f", None),
    ("three underscores", "a___b", BAD),
    ("leading dash", "-a", BAD),
    ("trailing dash", "a-", BAD),
    ("domain ending in a dash", "a.b-/c", BAD),
    ("empty tag", "nginx:", BAD),
    ("tag of 128", "nginx:" + "t" * 128, None),
    ("tag of 129", "nginx:" + "t" * 129, BAD),
    ("non-ASCII tag (Go's \\w is ASCII)", "nginx:v\u00e9", BAD),
    ("trailing newline (Go's $ is the end)", "nginx\n", BAD),
    ("newline after a tag", "nginx:1\n", BAD),
    ("hex identifier with a newline is a name", "a" * 64 + "\n", BAD),
    ("digest", "nginx@sha256:" + "0" * 64, None),
    ("unknown digest algorithm", "nginx@md5:" + "0" * 32, "unsupported digest algorithm"),
    # normalize.go checks the name up to the first ':' for uppercase first: "nginx@MD5" is not lowercase
    ("uppercase before the first colon", "nginx@MD5:" + "0" * 32, LOWERCASE),
    (
        "unknown uppercase digest algorithm after a tag",
        "nginx:1@MD5:" + "0" * 32,
        "invalid checksum digest format",
    ),
    ("short digest", "nginx@sha256:" + "0" * 32, "invalid checksum digest length"),
    ("uppercase digest", "nginx@sha256:" + "A" * 64, "invalid checksum digest format"),
    ("uppercase path", "team/App", LOWERCASE),
    ("name of 237 (255 with docker.io/library/)", "a" * 237, None),
    ("name of 238", "a" * 238, TOO_LONG),
    # long inputs: decided as docker decides them
    ("long name", "a" * 50_000, TOO_LONG),
    ("long name, bad end", "a" * 50_000 + "!", BAD),
    ("long dashed name, bad end", "a-" * 25_000 + "!", BAD),
    ("long dotted domain, bad end", "x.io/" + "a." * 25_000 + "!", BAD),
    ("long path, bad end", "x.io/" + "ab/" * 15_000 + "!", BAD),
    ("long domain without a slash after it", "a-b." * 12_000 + "c:1x/d", BAD),
    ("long tag", "nginx:" + "t" * 50_000, BAD),
    ("long digest algorithm", "nginx@" + "a" * 50_000 + ":" + "0" * 32, "unsupported digest algorithm"),
    ("long digest, bad end", "nginx@sha256:" + "0" * 50_000 + "g", BAD),
]


@pytest.mark.unit
@pytest.mark.parametrize(("why", "image", "verdict"), CASES, ids=[c[0] for c in CASES])
def test_image_reference_verdicts(why: str, image: str, verdict: str | None) -> None:
    assert image_reference_error(image) == verdict
