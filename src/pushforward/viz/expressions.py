"""Safe formulas for ``pushforward explore``: text such as ``"(z1, z2 + z1**2)"`` → a map f(z).

The text is parsed with :mod:`ast` and only a whitelist of nodes (numbers, the names z, z1, z2,
x, y, pi, e, arithmetic, indexing of z, pairs, and a list of element-wise torch functions) is
evaluated; nothing reaches ``eval``, attribute access or imports.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from pushforward.errors import UserError, suggest

_EXAMPLES = 'write e.g. "2*z + 1", "exp(z)" or "(z1, z2 + z1**2)"'

_UNARY: dict[str, Callable[[Tensor], Tensor]] = {
    "exp": torch.exp,
    "log": torch.log,
    "log1p": torch.log1p,
    "expm1": torch.expm1,
    "sin": torch.sin,
    "cos": torch.cos,
    "tan": torch.tan,
    "tanh": torch.tanh,
    "sinh": torch.sinh,
    "cosh": torch.cosh,
    "arcsinh": torch.asinh,
    "asinh": torch.asinh,
    "arctan": torch.atan,
    "atan": torch.atan,
    "sigmoid": torch.sigmoid,
    "sqrt": torch.sqrt,
    "abs": torch.abs,
    "relu": torch.relu,
    "softplus": F.softplus,
    "sign": torch.sign,
}
_BINARY: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "minimum": torch.minimum,
    "maximum": torch.maximum,
    "atan2": torch.atan2,
    "arctan2": torch.atan2,
    "hypot": torch.hypot,
}
_FUNCTIONS = sorted([*_UNARY, *_BINARY, "clamp"])
_NAMES = ("z", "z1", "z2", "x", "y", "pi", "e")
_OPERATORS: dict[type, Callable[[Tensor, Tensor], Tensor]] = {
    ast.Add: torch.add,
    ast.Sub: torch.sub,
    ast.Mult: torch.mul,
    ast.Div: torch.div,
    ast.Pow: torch.pow,
}
_MAX_LENGTH = 2000
_MAX_NODES = 400


class Expression:
    """A transformation f: (n, 2) tensor → (n, 2) tensor read from a formula by :func:`parse_expression`."""

    def __init__(self, text: str, tree: ast.Expression) -> None:
        self.text = text
        self._body = tree.body

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def __call__(self, z: Tensor) -> Tensor:
        if not isinstance(z, Tensor) or z.ndim != 2 or z.shape[1] != 2:
            shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise _error(f"the expression {self.text!r} needs z of shape (n, 2), got {shape}", "pass an (n, 2) tensor")
        if not z.is_floating_point():
            z = z.to(torch.float32)
        body = self._body
        if isinstance(body, (ast.Tuple, ast.List)):
            columns = [self._column(self._eval(item, z), z, item) for item in body.elts]
            return torch.cat(columns, dim=1)
        value = self._eval(body, z)
        if value.ndim == 0:
            return value.expand(len(z), 2).clone()
        if tuple(value.shape) == (len(z), 2):
            return value
        raise _error(
            f"{self.text!r} gives one number per sample, but x = f(z) needs two",
            'give two, e.g. "(z1, z2 + z1**2)" or "2*z + 1"',
        )

    def _column(self, value: Tensor, z: Tensor, node: ast.AST) -> Tensor:
        if value.ndim == 0:
            return value.expand(len(z), 1)
        if tuple(value.shape) == (len(z), 1):
            return value
        raise _error(
            f"{_segment(self.text, node)!r} gives two numbers per sample, but one entry of a pair needs one",
            'use z1 or z2 (or z[:, 0]) inside a pair, e.g. "(z1, z2 + z1**2)"',
        )

    def _eval(self, node: ast.AST, z: Tensor) -> Tensor:
        # Columns are kept as (n, 1) so that they broadcast against z (n, 2) column-wise.
        if isinstance(node, ast.Constant):
            return torch.tensor(float(node.value), dtype=z.dtype, device=z.device)
        if isinstance(node, ast.Name):
            return {
                "z": lambda: z,
                "z1": lambda: z[:, 0:1],
                "x": lambda: z[:, 0:1],
                "z2": lambda: z[:, 1:2],
                "y": lambda: z[:, 1:2],
                "pi": lambda: torch.tensor(math.pi, dtype=z.dtype, device=z.device),
                "e": lambda: torch.tensor(math.e, dtype=z.dtype, device=z.device),
            }[node.id]()
        if isinstance(node, ast.UnaryOp):
            operand = self._eval(node.operand, z)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            return _OPERATORS[type(node.op)](self._eval(node.left, z), self._eval(node.right, z))
        if isinstance(node, ast.Subscript):
            column = _index_of(node)
            return z[:, column : column + 1] if column >= 0 else z[:, 2 + column : 3 + column]
        if isinstance(node, ast.Call):
            name = node.func.id  # type: ignore[attr-defined]
            args = [self._eval(arg, z) for arg in node.args]
            if name in _UNARY:
                return _UNARY[name](args[0])
            if name in _BINARY:
                left, right = torch.broadcast_tensors(*args)
                return _BINARY[name](left, right)
            bounds = {keyword.arg: self._eval(keyword.value, z) for keyword in node.keywords}
            low = args[1] if len(args) > 1 else bounds.get("min")
            high = args[2] if len(args) > 2 else bounds.get("max")
            return torch.clamp(args[0], min=low, max=high)
        raise AssertionError(f"unchecked node {ast.dump(node)}")  # _check lets nothing else through


def parse_expression(text: str) -> Expression:
    """Read a formula for x = f(z) safely: parsed with :mod:`ast`, never ``eval``-ed.

    Allowed: numbers; the names ``z`` (the ``(n, 2)`` samples), ``z1`` and ``z2`` (its columns;
    ``x`` and ``y`` are aliases), ``pi`` and ``e``; ``+ - * / **`` and unary minus; indexing
    ``z[:, 0]`` / ``z[:, 1]``; a top-level pair ``(a, b)`` or ``[a, b]`` giving the two columns
    of x; and calls of the elementwise functions exp, log, log1p, expm1, sin, cos, tan, tanh,
    sinh, cosh, asinh/arcsinh, atan/arctan, sigmoid, sqrt, abs, relu, softplus, sign (one
    argument), minimum, maximum, atan2/arctan2, hypot (two) and clamp(v, min, max) (``min``
    and ``max`` optional, by position or keyword). Numbers are tensors, so ``9**9**9``
    overflows to inf instead of hanging Python on a huge integer.

    The result maps an ``(n, 2)`` tensor to ``(n, 2)``: a constant broadcasts to every sample,
    and a pair entry may be a constant or one column. Anything else — attribute access,
    strings, lambdas, unknown names, comprehensions, a formula giving one number per sample —
    is a :class:`~pushforward.errors.UserError` naming the offending part, raised here rather
    than when the function is first used (the formula is tried on three points).

    Examples: ``"2*z + 1"``, ``"exp(z)"``, ``"(z1, z2 + z1**2)"``, ``"(z1 * cos(z2), z1 * sin(z2))"``.
    """
    if not isinstance(text, str):
        raise _error(f"the expression must be text, not {type(text).__name__}", _EXAMPLES)
    if not text.strip():
        raise _error("the expression is empty", _EXAMPLES)
    if len(text) > _MAX_LENGTH:
        raise _error(f"the expression is {len(text)} characters long", f"keep it under {_MAX_LENGTH}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise _error(f"{text!r} is not a valid formula ({error.msg})", _EXAMPLES) from None
    except (RecursionError, MemoryError, ValueError):
        raise _error(f"{text[:40]!r}... is nested too deeply or has null characters", _EXAMPLES) from None
    source = text.strip()
    if sum(1 for _ in ast.walk(tree)) > _MAX_NODES:
        raise _error(f"the expression has more than {_MAX_NODES} parts", "write a shorter formula")
    body = tree.body
    if isinstance(body, (ast.Tuple, ast.List)):
        if len(body.elts) != 2:
            raise _error(
                f"{source!r} lists {len(body.elts)} entries, but x has two coordinates", 'give a pair, e.g. "(z1, z2 + z1**2)"'
            )
        for item in body.elts:
            _check(item, source)
    else:
        _check(body, source)
    expression = Expression(source, tree)
    # Try it on a few points so that a shape mistake is reported now, with the formula at hand.
    probe = torch.tensor([[0.5, -0.3], [1.2, 0.7], [-0.4, 2.0]])
    try:
        expression(probe)
    except UserError:
        raise
    except (RuntimeError, TypeError, ValueError) as error:
        raise _error(f"{source!r} cannot be evaluated ({str(error).splitlines()[0]})", _EXAMPLES) from None
    return expression


def _check(node: ast.AST, source: str) -> None:
    """Raise a :class:`UserError` at the first node outside the whitelist."""
    part = _segment(source, node)
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "text" if isinstance(value, (str, bytes)) else type(value).__name__
            raise _error(f"{part!r} is {kind}, not a number", _EXAMPLES)
        try:
            float(value)
        except OverflowError:
            raise _error(f"the number {part[:20]}... is too large", "use a number below 1e308") from None
        return
    if isinstance(node, ast.Name):
        if node.id not in _NAMES:
            hint = "it is a function: call it, e.g. exp(z)" if node.id in _FUNCTIONS else suggest(node.id, list(_NAMES))
            raise _error(f"unknown name {node.id!r} in the expression", hint)
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise _error(f"the operator in {part!r} is not allowed", "use + - * / ** only")
        _check(node.operand, source)
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _OPERATORS:
            raise _error(f"the operator in {part!r} is not allowed", "use + - * / ** only")
        _check(node.left, source)
        _check(node.right, source)
        return
    if isinstance(node, ast.Subscript):
        _index_of(node, source)
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            called = _segment(source, node.func)
            raise _error(f"{called!r} is not an allowed function", f"use one of {', '.join(_FUNCTIONS)}")
        name = node.func.id
        if any(isinstance(arg, ast.Starred) for arg in node.args) or any(k.arg is None for k in node.keywords):
            raise _error(f"{part!r} unpacks arguments with *", "pass them one by one, e.g. clamp(z, -1, 1)")
        if name == "clamp":
            keywords = [k.arg for k in node.keywords]
            bad = [k for k in keywords if k not in ("min", "max")]
            if bad or len(set(keywords)) != len(keywords):
                raise _error(f"clamp does not take the argument {bad[0] if bad else keywords[0]!r}", "write e.g. clamp(z, -1, 1) or clamp(z, min=0)")
            count = len(node.args) + len(keywords)
            if not node.args or count < 2 or len(node.args) > 3:
                raise _error(f"{part!r} needs a value and a min and/or max", "write e.g. clamp(z, -1, 1)")
            if len(node.args) >= 2 and "min" in keywords or len(node.args) == 3 and "max" in keywords:
                raise _error(f"{part!r} gives a bound twice", "write e.g. clamp(z, -1, 1)")
        else:
            arity = 1 if name in _UNARY else 2
            if node.keywords or len(node.args) != arity:
                example = f"{name}(z)" if arity == 1 else f"{name}(z1, z2)"
                raise _error(f"{name} takes {arity} argument{'s' if arity > 1 else ''} in {part!r}", f"write e.g. {example}")
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            _check(arg, source)
        return
    if isinstance(node, (ast.Tuple, ast.List)):
        raise _error(f"{part!r}: a pair is only allowed around the whole formula", 'write e.g. "(z1, z2 + z1**2)"')
    what = {
        ast.Attribute: "attribute access",
        ast.Lambda: "a lambda",
        ast.Compare: "a comparison",
        ast.BoolOp: "a logical operator",
        ast.IfExp: "an if-expression",
        ast.JoinedStr: "an f-string",
    }.get(type(node), f"a {type(node).__name__} expression")
    raise _error(f"{what} ({part!r}) is not allowed in a formula", _EXAMPLES)


def _index_of(node: ast.Subscript, source: str | None = None) -> int:
    """The column of ``z[:, k]`` or ``z[..., k]`` (k in 0, 1, -1, -2), or a :class:`UserError`."""
    index = node.slice
    ok = (
        isinstance(node.value, ast.Name)
        and node.value.id == "z"
        and isinstance(index, ast.Tuple)
        and len(index.elts) == 2
        and (
            (
                isinstance(index.elts[0], ast.Slice)
                and index.elts[0].lower is None
                and index.elts[0].upper is None
                and index.elts[0].step is None
            )
            or (isinstance(index.elts[0], ast.Constant) and index.elts[0].value is Ellipsis)
        )
    )
    column = None
    if ok:
        last = index.elts[1]  # type: ignore[attr-defined]
        if isinstance(last, ast.UnaryOp) and isinstance(last.op, ast.USub) and isinstance(last.operand, ast.Constant):
            column = -last.operand.value if type(last.operand.value) is int else None
        elif isinstance(last, ast.Constant) and type(last.value) is int:
            column = last.value
    if column not in (0, 1, -1, -2):
        part = _segment(source or "", node) if source else ast.unparse(node)
        raise _error(f"the indexing {part!r} is not allowed", "only z[:, 0] and z[:, 1] (or z1, z2) pick a column")
    return int(column)  # type: ignore[arg-type]


def _error(problem: str, fix: str = "") -> UserError:
    """A :class:`UserError` whose fix always ends with an example of a valid formula."""
    if "e.g." not in fix:
        fix = f"{fix}; {_EXAMPLES}" if fix else _EXAMPLES
    return UserError(problem, fix)


def _segment(source: str, node: ast.AST) -> str:
    """The source text of ``node`` (for error messages), shortened to stay on one line."""
    text = ast.get_source_segment(source, node) or ast.unparse(node)
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."
