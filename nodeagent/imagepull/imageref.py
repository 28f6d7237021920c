"""Image references as kruise compares them: moved to :mod:`schemas.kruise.rules.imageref`, next
to the webhook's image grammar (one parser for both); these names stay importable from here."""

from __future__ import annotations

from schemas.kruise.rules.imageref import DEFAULT_DOMAIN, OFFICIAL_REPO, ImageRefError, name_and_tag

__all__ = ["DEFAULT_DOMAIN", "OFFICIAL_REPO", "ImageRefError", "name_and_tag"]
