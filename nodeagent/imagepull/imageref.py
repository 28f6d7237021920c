"""Image references as kruise compares them: ``NormalizeImageRefToNameTag`` (pure).

kruise keys a NodeImage's ``spec.images`` by the *familiar* name of the image
(docker/distribution's ``FamiliarName``: ``docker.io/library/`` and ``docker.io/`` dropped) and
keeps the tag apart (``latest`` when none is given; a digest stands in for the tag). The
ImagePullJob controller splits ``spec.image`` this way and the node agent matches the runtime's
``repoTags`` against ``name:tag`` the same way (``ImageInfo.ContainsImage``).
"""

from __future__ import annotations

DEFAULT_DOMAIN = "docker.io"
OFFICIAL_REPO = "library"


class ImageRefError(ValueError):
    """Not an image reference."""


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        return first, rest
    return DEFAULT_DOMAIN, name


def name_and_tag(ref: str) -> tuple[str, str]:
    """``(familiar name, tag or digest)`` of ``ref``: ``nginx`` -> ``("nginx", "latest")``,
    ``docker.io/library/nginx:1.25`` -> ``("nginx", "1.25")``,
    ``127.0.0.1:5000/a/b@sha256:..`` -> ``("127.0.0.1:5000/a/b", "sha256:..")``."""
    ref = ref.strip()
    if not ref or ref != ref.strip() or " " in ref:
        raise ImageRefError(f"invalid reference format: {ref!r}")
    name, at, digest = ref.partition("@")
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    if not name or name.endswith("/"):
        raise ImageRefError(f"invalid reference format: {ref!r}")
    domain, path = _split_domain(name)
    if domain == DEFAULT_DOMAIN:
        if path.startswith(f"{OFFICIAL_REPO}/") and path.count("/") == 1:
            path = path[len(OFFICIAL_REPO) + 1 :]
        familiar = path
    else:
        familiar = f"{domain}/{path}"
    if at:
        return familiar, digest
    return familiar, tag or "latest"
