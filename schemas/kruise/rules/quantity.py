"""Go's ``resource.Quantity`` as far as kruise's resource expressions use it: parse, compare, add,
milli-values, and the canonical text the API server stores.

A :class:`Quantity` is an exact value (a :class:`~fractions.Fraction`, rounded up to nano
precision as ``ParseQuantity`` rounds) and its format: ``BinarySI`` (``Ki``..``Ei``),
``DecimalSI`` (``n``..``E``), ``DecimalExponent`` (``1e3``) or ``""`` (Go's zero value).
:meth:`Quantity.canonical` is ``CanonicalizeBytes`` (k8s.io/apimachinery v0.32
pkg/api/resource/quantity.go): a BinarySI value below 1024 in magnitude or not an integer is
written DecimalSI; DecimalSI/DecimalExponent strip trailing zeros into an exponent that is a
multiple of 3; BinarySI strips factors of 1024. Pure.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

BINARY_SI = "BinarySI"
DECIMAL_SI = "DecimalSI"
DECIMAL_EXPONENT = "DecimalExponent"

FORMAT_WRONG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
SUFFIX_WRONG = "unable to parse quantity's suffix"

_NUMBER = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)$")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exponent: suffix for suffix, exponent in _DECIMAL.items()}
_BINARY_SUFFIX = {0: "", 1: "Ki", 2: "Mi", 3: "Gi", 4: "Ti", 5: "Pi", 6: "Ei"}
_NANO = Fraction(1, 10**9)


class QuantityError(ValueError):
    """``ParseQuantity``'s error (``ErrFormatWrong`` / ``ErrSuffix``)."""


def _nano_ceiling(value: Fraction) -> Fraction:
    return Fraction(math.ceil(value / _NANO)) * _NANO


@dataclass(frozen=True)
class Quantity:
    value: Fraction
    format: str = ""

    @classmethod
    def parse(cls, text: str) -> Quantity:
        """``resource.ParseQuantity``."""
        found = _NUMBER.match(text.strip() if text else "")
        if not text or found is None:
            raise QuantityError(FORMAT_WRONG)
        number, suffix = found.groups()
        value = Fraction(number)
        if suffix in _BINARY:
            return cls(_nano_ceiling(value * 2 ** _BINARY[suffix]), BINARY_SI)
        if suffix in _DECIMAL:
            return cls(_nano_ceiling(value * Fraction(10) ** _DECIMAL[suffix]), DECIMAL_SI)
        exponent = re.fullmatch(r"[eE]([-+]?[0-9]+)", suffix)
        if exponent is None:
            raise QuantityError(SUFFIX_WRONG)
        return cls(_nano_ceiling(value * Fraction(10) ** int(exponent.group(1))), DECIMAL_EXPONENT)

    @classmethod
    def milli(cls, value: int, fmt: str = DECIMAL_SI) -> Quantity:
        """``NewMilliQuantity`` (and ``SetMilli`` on a copy of a quantity of format ``fmt``)."""
        return cls(Fraction(value, 1000), fmt)

    def milli_value(self) -> int:
        """``MilliValue``: the value in thousandths, rounded up."""
        return math.ceil(self.value * 1000)

    def add(self, other: Quantity) -> Quantity:
        """``Add``: the sum, in this format unless this is zero (then the other's)."""
        return Quantity(self.value + other.value, other.format if self.value == 0 else self.format)

    def negated(self) -> Quantity:
        return Quantity(-self.value, self.format)

    def canonical(self) -> str:
        """``Quantity.String()``."""
        if self.value == 0:
            return "0"
        fmt = self.format
        if fmt == BINARY_SI and (abs(self.value) < 1024 or self.value.denominator != 1):
            fmt = DECIMAL_SI
        sign = "-" if self.value < 0 else ""
        magnitude = abs(self.value)
        if fmt == BINARY_SI:
            amount, power = int(magnitude), 0
            while amount % 1024 == 0:
                amount //= 1024
                power += 1
            return f"{sign}{amount}{_BINARY_SUFFIX.get(power, '')}"
        mantissa, exponent = math.ceil(magnitude / _NANO), -9
        while mantissa % 10 == 0:
            mantissa //= 10
            exponent += 1
        shift = exponent % 3
        mantissa, exponent = mantissa * 10**shift, exponent - shift
        if fmt == DECIMAL_SI and exponent in _DECIMAL_SUFFIX:
            return f"{sign}{mantissa}{_DECIMAL_SUFFIX[exponent]}"
        return f"{sign}{mantissa}" + (f"e{exponent}" if exponent else "")
