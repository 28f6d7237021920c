"""kruise's resource-expression calculator (v1.9.1 ``pkg/util/calculator``): the language of a
SidecarSet container's ``resourcesPolicy.resourcesExpr``.

``+ - * /``, unary minus, parentheses, ``max(a, b)`` / ``min(a, b)``, numbers (``0.5``, ``50%`` =
0.5, ``1e3``), quantities (a number with one of ``m k M G T P Ki Mi Gi Ti Pi``) and variables
(``cpu`` / ``memory``, case-insensitive). A number and a quantity combine as a quantity (the
number read as ``NewMilliQuantity(n*1000)``); quantity x number and quantity / number keep the
quantity's format with ``SetMilli(MilliValue x n)``; two quantities may not be multiplied and
nothing may be divided by one. The parser is recursive descent over calculator.y's grammar and
reports what its goyacc parser reports: the lexer's ``parse error: syntax error at line L, col C``
after the token that cannot continue the expression, or the last semantic error raised before it
(an undefined variable, a division by zero, ...); a negative result is refused
(``calculation result is negative``). Pure.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from schemas.kruise.rules.quantity import DECIMAL_SI, Quantity, QuantityError

_UNITS = ("m", "k", "M", "G", "T", "P", "Ki", "Mi", "Gi", "Ti", "Pi")
_EOF = ""


class CalculatorError(ValueError):
    """``Calculator.Parse``'s error (its message is kruise's)."""


@dataclass(frozen=True)
class Value:
    """A plain number, or a quantity."""

    number: float = 0.0
    quantity: Quantity | None = None

    @property
    def is_quantity(self) -> bool:
        return self.quantity is not None


def go_g(number: float) -> str:
    """Go's ``%g`` of a float64 (shortest digits; exponent form below 1e-4 and from 1e6)."""
    if number == 0:
        return "0"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if math.isnan(number):
        return "NaN"
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    text = "".join(str(d) for d in digits)
    point = len(text) + int(exponent)  # digits before the decimal point
    head = "-" if sign else ""
    x = point - 1
    if x < -4 or x >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{head}{mantissa}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if point <= 0:
        return f"{head}0.{'0' * -point}{text}"
    if point >= len(text):
        return f"{head}{text}{'0' * (point - len(text))}"
    return f"{head}{text[:point]}.{text[point:]}"


def _to_quantity(value: Value) -> Quantity:
    if value.quantity is not None:
        return value.quantity
    return Quantity.milli(int(value.number * 1000))


def _is_quantity_token(text: str) -> bool:
    """``yyLex.isQuantity``: a number followed by exactly one of the units."""
    end = next((i for i, ch in enumerate(text) if not (ch.isdigit() or ch in ".eE+-")), 0)
    return end != 0 and text[end:] in _UNITS


def _number(text: str) -> float:
    """``parseNumber`` (a trailing ``%`` divides by 100; a bad number is 0, as kruise ignores the error)."""
    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        return 0.0


class _Lexer:
    """calculator's ``yyLex`` (byte positions; ``col`` counts from 1)."""

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line, self.col = text, 0, 1, 1

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _next(self) -> str:
        ch = self._peek()
        if ch:
            self.pos += 1
            if ch == "\n":
                self.line, self.col = self.line + 1, 1
            else:
                self.col += 1
        return ch

    def _read_number(self) -> str:
        start = self.pos
        seen_dot = seen_e = seen_percent = expect_digit = False
        while (ch := self._peek()) != "":
            if ch.isdigit():
                expect_digit = False
            elif ch == ".":
                if seen_dot or seen_e or seen_percent:
                    break
                seen_dot = True
            elif ch in "eE":
                if seen_e or seen_percent:
                    break
                seen_e = expect_digit = True
            elif ch in "+-":
                if not expect_digit:
                    break
                expect_digit = False
            elif ch == "%":
                if seen_percent:
                    break
                seen_percent = True
            elif ch.isalpha():
                if not expect_digit:
                    while self._peek().isalpha():
                        self._next()
                break
            else:
                break
            self._next()
        return self.text[start : self.pos]

    def token(self) -> tuple[str, str]:
        """(kind, text): kind is a punctuation character, NUMBER, QUANTITY, IDENT, another
        character (which no rule accepts) or "" at the end."""
        while self._peek().isspace():
            self._next()
        ch = self._next()
        if ch == "":
            return _EOF, ""
        if ch in "+-*/(),":
            return ch, ch
        if ch == "." or ch.isdigit():
            self.pos -= 1
            self.col -= 1
            text = self._read_number()
            return ("QUANTITY" if _is_quantity_token(text) else "NUMBER"), text
        if ch.isalpha():
            start = self.pos - 1
            while (nxt := self._peek()) != "" and (nxt.isalnum() or nxt == "_"):
                self._next()
            return "IDENT", self.text[start : self.pos]
        return f"?{ch}", ch


class _SyntaxError(Exception):
    pass


class _Parser:
    def __init__(self, text: str, variables: dict[str, Value]) -> None:
        self.lexer = _Lexer(text)
        self.variables = variables
        self.error: str | None = None
        self.kind, self.text = self.lexer.token()

    def _advance(self) -> None:
        self.kind, self.text = self.lexer.token()

    def _expect(self, kind: str) -> None:
        if self.kind != kind:
            raise _SyntaxError
        self._advance()

    def _fail(self, message: str) -> None:
        self.error = message

    def parse(self) -> Value | None:
        result = self._expr()
        if self.kind != _EOF:
            raise _SyntaxError
        return result

    def _expr(self) -> Value | None:
        left = self._term()
        while self.kind in ("+", "-"):
            op = self.kind
            self._advance()
            right = self._term()
            left = self._add(left, right, op == "-")
        return left

    def _term(self) -> Value | None:
        left = self._factor()
        while self.kind in ("*", "/"):
            op = self.kind
            self._advance()
            right = self._factor()
            left = self._mul(left, right) if op == "*" else self._div(left, right)
        return left

    def _factor(self) -> Value | None:
        kind, text = self.kind, self.text
        if kind == "NUMBER":
            self._advance()
            return Value(number=_number(text))
        if kind == "QUANTITY":
            self._advance()
            try:
                return Value(quantity=Quantity.parse(text))
            except QuantityError as err:
                self._fail(str(err))
                return None
        if kind == "IDENT":
            self._advance()
            if self.kind == "(":
                return self._call(text)
            found = self.variables.get(text.lower())
            if found is None:
                self._fail(f"undefined variable: {text.lower()}")
            return found
        if kind == "(":
            self._advance()
            inner = self._expr()
            self._expect(")")
            return inner
        if kind == "-":
            self._advance()
            operand = self._factor()
            if operand is None:
                return None
            if operand.quantity is not None:
                return Value(quantity=operand.quantity.negated())
            return Value(number=-operand.number)
        raise _SyntaxError

    def _call(self, name: str) -> Value | None:
        self._expect("(")
        args = [self._expr()]
        if self.kind == ",":
            self._advance()
            args.append(self._expr())
        self._expect(")")
        lowered = name.lower()
        if lowered not in ("max", "min"):
            self._fail(f"unknown function: {name}")
            return None
        if len(args) != 2:
            self._fail(f"{lowered} function requires exactly 2 arguments, got {len(args)}")
            return None
        left, right = args
        if left is None or right is None:
            return None
        if not left.is_quantity and not right.is_quantity:
            pick_left = left.number >= right.number if lowered == "max" else left.number <= right.number
            return left if pick_left else right
        lq, rq = _to_quantity(left), _to_quantity(right)
        pick_left = lq.value >= rq.value if lowered == "max" else lq.value <= rq.value
        return Value(quantity=lq if pick_left else rq)

    def _add(self, left: Value | None, right: Value | None, subtract: bool) -> Value | None:
        if left is None or right is None:
            return None
        if left.is_quantity or right.is_quantity:
            rq = _to_quantity(right)
            return Value(quantity=_to_quantity(left).add(rq.negated() if subtract else rq))
        return Value(number=left.number - right.number if subtract else left.number + right.number)

    def _mul(self, left: Value | None, right: Value | None) -> Value | None:
        if left is None or right is None:
            return None
        if left.quantity is not None and right.quantity is not None:
            self._fail("multiplication of two quantities")
            return None
        for q, n in ((left.quantity, right.number), (right.quantity, left.number)):
            if q is not None:
                return Value(quantity=Quantity.milli(int(float(q.milli_value()) * n), q.format))
        return Value(number=left.number * right.number)

    def _div(self, left: Value | None, right: Value | None) -> Value | None:
        if left is None or right is None:
            return None
        if right.is_quantity:
            self._fail("division by quantity")
            return None
        if right.number == 0:
            self._fail("division by zero")
            return None
        if left.quantity is not None:
            return Value(
                quantity=Quantity.milli(
                    int(float(left.quantity.milli_value()) / right.number), left.quantity.format
                )
            )
        return Value(number=left.number / right.number)


def evaluate(expression: str, variables: dict[str, Value]) -> Value:
    """``Calculator.Parse`` with ``variables`` (lower-case names); raises :class:`CalculatorError`."""
    parser = _Parser(expression, variables)
    try:
        result = parser.parse()
    except _SyntaxError:
        if parser.error is not None:
            raise CalculatorError(parser.error) from None
        lexer = parser.lexer
        raise CalculatorError(f"parse error: syntax error at line {lexer.line}, col {lexer.col}") from None
    if result is None:
        raise CalculatorError(parser.error or "no result from parser")
    if result.quantity is not None and result.quantity.value < 0:
        raise CalculatorError(f"calculation result is negative: {result.quantity.canonical()}")
    if result.quantity is None and result.number < 0:
        raise CalculatorError(f"calculation result is negative: {go_g(result.number)}")
    return result


def expression_error(expression: str, variable: str) -> str | None:
    """``validateResourceExpression``: the expression with ``variable`` = the number 1."""
    try:
        evaluate(expression, {variable: Value(number=1.0)})
    except CalculatorError as err:
        return f"invalid expression: {err}"
    return None


def resource_value(expression: str, aggregated: Quantity) -> Quantity:
    """``evaluateResourceExpression`` for a non-empty expression: the variable is ``memory`` when
    the word appears in it, else ``cpu``; a plain-number result is millicores for cpu, units for
    memory."""
    variable = "memory" if re.search(r"\bmemory\b", expression) else "cpu"
    try:
        result = evaluate(expression, {variable: Value(quantity=aggregated)})
    except CalculatorError as err:
        raise CalculatorError(f"failed to parse expression {go_quote(expression)}: {err}") from None
    if result.quantity is not None:
        return result.quantity
    if variable == "cpu":
        return Quantity.milli(int(result.number * 1000), DECIMAL_SI)
    return Quantity(Fraction(int(result.number)), DECIMAL_SI)


def go_quote(text: str) -> str:
    """Go's ``%q`` of a printable string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
