"""Image references as docker/distribution v2.8.2 (the version kruise v1.9.1 builds with) parses
them: ``reference.ParseNormalizedNamed``, written once for every part that reads an image name.

- :func:`image_reference_error`: why ``ParseNormalizedNamed`` refuses a reference, in docker's
  words (kruise's ImagePullJob and NodeImage webhooks answer with them);
- :func:`name_and_tag`: kruise's ``NormalizeImageRefToNameTag`` (``pkg/daemon/util``), the
  *familiar* name (``FamiliarName``: ``docker.io/`` and an official image's ``library/``
  dropped) and the tag apart (``latest`` when none is given; a digest stands in for the tag).
  The ImagePullJob worker keys a NodeImage's ``spec.images`` by it and the node agent matches
  the runtime's ``repoTags`` with it (``ImageInfo.ContainsImage``).

Pure; no kind's rules of its own (``imagepull`` validates with it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO = "library"


class ImageRefError(ValueError):
    """Not an image reference; the message is docker's."""


# --- docker reference grammar (github.com/docker/distribution v2.8.2 reference/regexp.go) ---------
# The same language as docker's expressions, written so Python's backtracking engine runs in linear
# time as Go's RE2 does: every repetition is possessive (``*+``, ``++``) where what may follow can
# never start another repetition (a name component is followed by ``/``, ``:``, ``@`` or the end;
# a domain component by ``.``, ``:`` or ``/``); docker's separator ``(?:[._]|__|[-]*)`` admits an
# empty separator, which makes ``[a-z0-9]+`` repeat inside a repetition (the pattern that
# backtracks without end on a long bad name): ``-+`` instead says the same, as two alphanumeric
# runs with nothing between them are one run. ``re.ASCII`` and ``fullmatch``: Go's ``\w`` is
# ASCII, and its ``$`` does not match before a final newline as Python's does.
_ALNUM = r"[a-z0-9]++"
_SEPARATOR = r"(?>__|[._]|-++)"
_NAME_COMPONENT = f"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*+"
_DOMAIN_COMPONENT = r"[a-zA-Z0-9]++(?:-++[a-zA-Z0-9]++)*+"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*+(?::[0-9]++)?"
_TAG = r"\w[\w.-]{0,127}+"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*+(?:[-_+.][A-Za-z][A-Za-z0-9]*+)*+:[0-9a-fA-F]{32,}+"
_NAME = f"(?:{_DOMAIN}/)?{_NAME_COMPONENT}(?:/{_NAME_COMPONENT})*+"
_REFERENCE = re.compile(f"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")
_DIGEST_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128}


@dataclass(frozen=True)
class ImageRef:
    """A parsed, normalized reference: ``domain`` (``docker.io`` when it names none), ``path``
    (``library/<name>`` for an official image), ``tag`` and ``digest`` (``""`` when absent)."""

    domain: str
    path: str
    tag: str
    digest: str

    @property
    def familiar_name(self) -> str:
        """docker's ``FamiliarName``: ``nginx`` for ``docker.io/library/nginx``."""
        if self.domain != DEFAULT_DOMAIN:
            return f"{self.domain}/{self.path}"
        official, sep, name = self.path.partition("/")
        return name if sep and official == OFFICIAL_REPO and "/" not in name else self.path


def _split_domain(ref: str) -> tuple[str, str]:
    """docker's ``splitDockerDomain``."""
    slash = ref.find("/")
    if slash == -1 or (not any(c in ref[:slash] for c in ".:") and ref[:slash] != "localhost"):
        domain, remainder = DEFAULT_DOMAIN, ref
    else:
        domain, remainder = ref[:slash], ref[slash + 1 :]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = f"{OFFICIAL_REPO}/{remainder}"
    return domain, remainder


def parse_image_ref(ref: str) -> ImageRef:
    """``reference.ParseNormalizedNamed``; :class:`ImageRefError` with docker's message."""
    if _IDENTIFIER.fullmatch(ref):
        raise ImageRefError(f"invalid repository name ({ref}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_domain(ref)
    remote = remainder.partition(":")[0]
    if remote.lower() != remote:
        raise ImageRefError("invalid reference format: repository name must be lowercase")
    full = f"{domain}/{remainder}"
    match = _REFERENCE.fullmatch(full)
    if match is None:
        if _REFERENCE.fullmatch(full.lower()):
            raise ImageRefError("repository name must be lowercase")
        raise ImageRefError("invalid reference format")
    name, tag, digest = match.group(1), match.group(2) or "", match.group(3) or ""
    if len(name) > 255:
        raise ImageRefError("repository name must not be more than 255 characters")
    if digest:
        algorithm, _, hex_digits = digest.partition(":")
        if algorithm not in _DIGEST_HEX_LENGTH:
            # go-digest's Validate: an unknown algorithm must still be lowercase (DigestRegexp)
            raise ImageRefError(
                "invalid checksum digest format"
                if algorithm.lower() != algorithm
                else "unsupported digest algorithm"
            )
        if len(hex_digits) != _DIGEST_HEX_LENGTH[algorithm]:
            raise ImageRefError("invalid checksum digest length")
        if hex_digits.lower() != hex_digits:
            raise ImageRefError("invalid checksum digest format")
    # the name is the domain, '/', then the remainder's name (a tag or digest has no '/')
    return ImageRef(domain, name[len(domain) + 1 :], tag, digest)


def image_reference_error(ref: str) -> str | None:
    """Why docker's ``reference.ParseNormalizedNamed`` refuses ``ref`` (None: it parses)."""
    try:
        parse_image_ref(ref)
    except ImageRefError as err:
        return str(err)
    return None


def name_and_tag(ref: str) -> tuple[str, str]:
    """kruise's ``NormalizeImageRefToNameTag``: ``(familiar name, tag or digest)`` of ``ref``:
    ``nginx`` -> ``("nginx", "latest")``, ``docker.io/library/nginx:1.25`` -> ``("nginx", "1.25")``,
    ``127.0.0.1:5000/a/b@sha256:..`` -> ``("127.0.0.1:5000/a/b", "sha256:..")``."""
    parsed = parse_image_ref(ref)
    return parsed.familiar_name, parsed.digest or parsed.tag or "latest"
