"""CEL building blocks for kruise's rules in the CRDs (``x-kubernetes-validations``).

The API server runs a CRD's CEL rules before any validating webhook, so a rule that CEL can express
is refused with its ``message`` first: the messages here are kruise's own texts (from the rule
modules), and the expressions reproduce kruise's arithmetic (``GetScaledValueFromIntOrPercent``:
an int as is, ``"N%"`` with N any float, scaled by replicas and rounded up). Pure; used by the
per-kind rule modules, which hand their :class:`~schemas.kruise.base.Cel` rules to the models.
"""

from __future__ import annotations

from schemas.kruise.base import Cel

#: What ``strconv.ParseFloat`` accepts, followed by ``%`` (kruise's percentages may be decimals).
PERCENT_PATTERN = "^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?%$"


def percent_number(value: str) -> str:
    """The number of a percentage string, as a CEL double."""
    return f"double({value}.substring(0, size({value}) - 1))"


def scaled_at_most_zero(value: str, replicas: str) -> str:
    """CEL: ``ceil(value scaled by replicas) < 1`` (a malformed value counts as 0, as kruise's
    validation then uses 0). ``ceil(x) < 1`` is ``x <= 0``, so no rounding is needed."""
    return (
        f"(type({value}) == int ? {value} <= 0 : (!{value}.matches('{PERCENT_PATTERN}')"
        f" || {percent_number(value)} * double({replicas}) <= 0.0))"
    )


def scaled_not_negative(value: str, replicas: str) -> str:
    """CEL: ``ceil(value scaled by replicas) >= 0``, i.e. the scaled fraction is above -1."""
    return (
        f"(type({value}) == int ? {value} >= 0 : (!{value}.matches('{PERCENT_PATTERN}')"
        f" || {percent_number(value)} * double({replicas}) / 100.0 > -1.0))"
    )


def int_or_percent_rules(name: str) -> tuple[Cel, Cel]:
    """kruise's two refusals of an int-or-string it cannot scale, on the field itself (``self``)."""
    prefix = f"failed GetScaledValueFromIntOrPercent for {name}: "
    return (
        Cel(
            "type(self) == int || self.endsWith('%')",
            prefix + "invalid type: string is not a percentage",
        ),
        Cel(
            f"type(self) == int || !self.endsWith('%') || self.matches('{PERCENT_PATTERN}')",
            prefix + "strconv.ParseFloat: invalid syntax",
            message_expression=(
                f"'{prefix}strconv.ParseFloat: parsing \"' + self.substring(0, size(self) - 1)"
                " + '\": invalid syntax'"
            ),
        ),
    )
