"""Static type inference for expressions, reporting FY401-FY406 as it goes.

Inference never fails: anything it cannot know is `dyn`, which is compatible
with everything, so one problem is reported once and does not cascade.
"""

from __future__ import annotations

from ...dsl.ast import (
    Binary,
    Call,
    Conditional,
    Expr,
    Field,
    Index,
    ListLit,
    Literal,
    MapLit,
    Name,
    Template,
    Unary,
)
from ...dsl.diagnostics import Diagnostic, did_you_mean, misspelling_of
from ...dsl.spans import NO_SPAN, Span
from .functions import FUNCTIONS, accepts_in, check_call
from .render import render
from .scopes import ROOT_NAMES, Scope
from .types import (
    BOOL,
    DOUBLE,
    DURATION,
    DYN,
    INT,
    NULL,
    STRING,
    TIMESTAMP,
    ListType,
    MapType,
    ObjectType,
    Type,
    category,
    comparable,
    describe,
    field_type,
    is_dyn,
    is_number,
    join,
    orderable,
)


def check_expression(
    expr: Expr, scope: Scope, *, fallback: Span = NO_SPAN
) -> tuple[Type, list[Diagnostic]]:
    """The static type of `expr` in `scope`, and the problems found in it.

    `fallback` is used for nodes that carry no span of their own.
    """
    checker = _Inferencer(scope, fallback)
    return checker.infer(expr), checker.diagnostics


def infer(expr: Expr, scope: Scope) -> Type:
    """The static type of `expr` in `scope` (`dyn` where unknown), ignoring problems."""
    return check_expression(expr, scope)[0]


def check_guard(expr: Expr, scope: Scope, *, fallback: Span = NO_SPAN) -> list[Diagnostic]:
    """Problems in a `when` guard, including FY406 when it is not a boolean."""
    t, diags = check_expression(expr, scope, fallback=fallback)
    if t not in (BOOL, DYN):
        span = expr.span if expr.span != NO_SPAN else fallback
        diags.append(
            Diagnostic(
                code="FY406",
                message=f"a guard must be a boolean, but {render(expr)} is {describe(t)}",
                span=span,
                hint="compare it with something, e.g. `when: x > 0` or `when: x == 'ok'`",
            )
        )
    return diags


class _Inferencer:
    def __init__(self, scope: Scope, fallback: Span) -> None:
        self.scope = scope
        self.fallback = fallback
        self.diagnostics: list[Diagnostic] = []

    def report(self, code: str, message: str, at: Expr, hint: str | None = None) -> None:
        span = getattr(at, "span", NO_SPAN)
        if not isinstance(span, Span) or span == NO_SPAN:
            span = self.fallback
        self.diagnostics.append(Diagnostic(code=code, message=message, span=span, hint=hint))

    def infer(self, e: Expr) -> Type:
        if isinstance(e, Literal):
            return _literal_type(e.value)
        if isinstance(e, Name):
            return self.name(e)
        if isinstance(e, Field):
            return self.field(e, self.infer(e.target), warn=True)
        if isinstance(e, Index):
            return self.index(e)
        if isinstance(e, Unary):
            return self.unary(e)
        if isinstance(e, Binary):
            return self.binary(e)
        if isinstance(e, Conditional):
            return self.conditional(e)
        if isinstance(e, Call):
            return self.call(e)
        if isinstance(e, ListLit):
            element: Type | None = None
            for item in e.items:
                t = self.infer(item)
                element = t if element is None else join(element, t)
            return ListType(element if element is not None else DYN)
        if isinstance(e, MapLit):
            props = tuple((k, self.infer(v)) for k, v in e.entries)
            return ObjectType(props, None, "this map")
        return self.template(e) if isinstance(e, Template) else DYN

    def template(self, e: Template) -> Type:
        for part in e.parts:
            if not isinstance(part, str):
                self.infer(part)
        return STRING

    def name(self, e: Name) -> Type:
        declared = self.scope.names.get(e.name)
        if declared is not None:
            return declared
        why = self.scope.unavailable.get(e.name)
        if why is not None:
            self.report(
                self.scope.code, f"`{e.name}` is not in scope in {self.scope.where}", e, why
            )
            return DYN
        guess = _OTHER_LANGUAGES.get(e.name) or did_you_mean(e.name, list(self.scope.names))
        known = ", ".join(n for n in ROOT_NAMES if n in self.scope.names)
        self.report(
            self.scope.code,
            f"unknown name `{e.name}`",
            e,
            f"did you mean `{guess}`?" if guess else f"names in scope here: {known}",
        )
        return DYN

    def field(self, e: Field, target: Type, *, warn: bool) -> Type:
        if is_dyn(target):
            return DYN
        if not isinstance(target, MapType | ObjectType):
            self.report(
                "FY402",
                f"cannot read field `{e.name}` of {describe(target)}: "
                f"{render(e.target)} is {describe(target)}",
                e,
                "only maps have fields",
            )
            return DYN
        found = field_type(target, e.name)
        if found is not None:
            return found
        assert isinstance(target, ObjectType)
        if warn:
            self.unknown_field(e, target)
        return target.additional if target.additional is not None else DYN

    def unknown_field(self, e: Field, target: ObjectType) -> None:
        if target.unknown_code == "FY403" and (close := misspelling_of(e.name, target.names())):
            self.report(
                "FY407",
                f"`{e.name}` is not declared in {target.origin}, which declares `{close}`: "
                "reading an absent field fails at run time",
                e,
                f"did you mean `{close}`? If `{e.name}` is another field, "
                "declare it in the schema's properties",
            )
            return
        guess = did_you_mean(e.name, target.names())
        declared = ", ".join(target.names())
        hint = f"did you mean `{guess}`?" if guess else f"declared fields: {declared}"
        if target.unknown_code == "FY206":
            message = f"data field `{e.name}` is not declared"
            hint = f"did you mean `{guess}`?" if guess else "declare it under `data:`"
        elif target.additional is None:
            message = (
                f"`{e.name}` is not declared in {target.origin}, "
                "which allows no other fields: it is never present"
            )
        else:
            message = f"`{e.name}` is not declared in {target.origin}: it may be absent at run time"
            if not guess:
                hint += f"; add it to the schema, or test it first with has({render(e)})"
        self.report(target.unknown_code, message, e, hint)

    def index(self, e: Index) -> Type:
        target = self.infer(e.target)
        index = self.infer(e.index)
        if is_dyn(target):
            return DYN
        if isinstance(target, ListType):
            if index not in (DYN, INT):
                self.report(
                    "FY402",
                    f"a list index must be an integer, but {render(e.index)} is {describe(index)}",
                    e.index,
                    "use an integer position, starting at 0",
                )
            return target.element
        if isinstance(target, MapType | ObjectType):
            if index not in (DYN, STRING):
                self.report(
                    "FY402",
                    f"a map key must be a string, but {render(e.index)} is {describe(index)}",
                    e.index,
                    "use a string key, e.g. x['name']",
                )
                return DYN
            if isinstance(e.index, Literal) and isinstance(e.index.value, str):
                found = field_type(target, e.index.value)
                if found is not None:
                    return found
            if isinstance(target, MapType):
                return target.value
            return DYN
        self.report(
            "FY402",
            f"cannot index {describe(target)}: {render(e.target)} is {describe(target)}",
            e,
            "only lists and maps can be indexed",
        )
        return DYN

    def unary(self, e: Unary) -> Type:
        t = self.infer(e.operand)
        if e.op == "!":
            if t not in (BOOL, DYN):
                self.report(
                    "FY402",
                    f"`!` needs a boolean, but {render(e.operand)} is {describe(t)}",
                    e,
                    "compare the value first, e.g. `!(x == 0)`",
                )
            return BOOL
        if is_number(t) or t in (DYN, DURATION):
            return t
        self.report(
            "FY402",
            f"cannot negate {describe(t)}: {render(e.operand)} is {describe(t)}",
            e,
            "`-` applies to numbers and durations",
        )
        return DYN

    def binary(self, e: Binary) -> Type:
        left, right = self.infer(e.left), self.infer(e.right)
        op = e.op
        if op in ("&&", "||"):
            for side, t in ((e.left, left), (e.right, right)):
                if t not in (BOOL, DYN):
                    self.report(
                        "FY402",
                        f"`{op}` needs booleans, but {render(side)} is {describe(t)}",
                        side,
                        "compare the value first, e.g. `x > 0`",
                    )
            return BOOL
        if op in ("==", "!="):
            if not comparable(left, right):
                self.mismatch("compare", e, left, right)
            return BOOL
        if op in ("<", "<=", ">", ">="):
            if not orderable(left, right):
                self.mismatch("compare", e, left, right)
            return BOOL
        if op == "in":
            if not accepts_in(right):
                self.report(
                    "FY402",
                    f"`in` needs a list or a map on the right, "
                    f"but {render(e.right)} is {describe(right)}",
                    e,
                    "to test a substring use matches(text, 'part')",
                )
            return BOOL
        return self.arithmetic(e, left, right)

    def arithmetic(self, e: Binary, left: Type, right: Type) -> Type:
        op = e.op
        if is_number(left) and is_number(right):
            return INT if left == right == INT else DOUBLE
        if op == "+":
            if left == right and (left in (STRING, DURATION) or isinstance(left, ListType)):
                return left
            if isinstance(left, ListType) and isinstance(right, ListType):
                return ListType(join(left.element, right.element))
            if {left, right} == {TIMESTAMP, DURATION}:
                return TIMESTAMP
        if op == "-":
            if left == TIMESTAMP and right == DURATION:
                return TIMESTAMP
            if left == right and left in (TIMESTAMP, DURATION):
                return DURATION
        if is_dyn(left) or is_dyn(right):
            known = right if is_dyn(left) else left
            if op == "+" and (known == STRING or isinstance(known, ListType)):
                return known
            if category(known) in ("number", "dyn") or (
                op in ("+", "-") and known in (TIMESTAMP, DURATION)
            ):
                return DYN
        verb = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "%": "divide"}
        self.mismatch(verb.get(op, "combine"), e, left, right)
        return DYN

    def mismatch(self, verb: str, e: Binary, left: Type, right: Type) -> None:
        hint = "convert one side, e.g. with string(...), int(...) or double(...)"
        if NULL in (left, right) or BOOL in (left, right):
            hint = "check the operator and the types of both sides"
        if STRING in (left, right) and TIMESTAMP in (left, right):
            hint = "convert the string with timestamp(...)"
        self.report(
            "FY402",
            f"cannot {verb} {category(left)} and {category(right)}: "
            f"{render(e.left)} is {describe(left)}, {render(e.right)} is {describe(right)}",
            e,
            hint,
        )

    def conditional(self, e: Conditional) -> Type:
        condition = self.infer(e.condition)
        if condition not in (BOOL, DYN):
            self.report(
                "FY402",
                f"the condition of `?:` must be a boolean, "
                f"but {render(e.condition)} is {describe(condition)}",
                e.condition,
                "compare the value first, e.g. `x > 0 ? a : b`",
            )
        return join(self.infer(e.then), self.infer(e.otherwise))

    def call(self, e: Call) -> Type:
        if e.function == "has":
            return self.has(e)
        if e.function not in FUNCTIONS:
            for arg in e.args:
                self.infer(arg)
            guess = _OTHER_LANGUAGES.get(e.function) or did_you_mean(e.function, FUNCTIONS)
            self.report(
                "FY404",
                f"unknown function `{e.function}`",
                e,
                f"did you mean {guess}()?" if guess else "functions: " + ", ".join(FUNCTIONS),
            )
            return DYN
        args = [(arg, self.infer(arg)) for arg in e.args]
        result, problems = check_call(e.function, args)
        for p in problems:
            self.report(p.code, p.message, p.at if p.at is not None else e, p.hint)
        return result

    def has(self, e: Call) -> Type:
        if len(e.args) != 1 or not isinstance(e.args[0], Field):
            for arg in e.args:
                self.infer(arg)
            self.report(
                "FY404",
                "has() takes one field, like has(event.coupon)",
                e,
                "write has(x.field) to test whether a field is present",
            )
            return BOOL
        arg = e.args[0]
        self.field(arg, self.infer(arg.target), warn=False)
        return BOOL


def _literal_type(value: object) -> Type:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return DOUBLE
    if isinstance(value, str):
        return STRING
    return DYN


# What people write from Python or JavaScript habit, and what this language calls it.
_OTHER_LANGUAGES = {
    "True": "true", "False": "false", "None": "null", "nil": "null", "undefined": "null",
    "len": "size", "str": "string", "float": "double", "match": "matches",
}  # fmt: skip
