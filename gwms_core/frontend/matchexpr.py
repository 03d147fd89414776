"""Match expressions: ClassAd expressions over job and entry attributes, evaluated fast.

Convention: the expression refers to job attributes as ``job.<Name>`` and to the entry's
(future glidein's) attributes as ``glidein.<Name>``, e.g.::

    stringListMember(glidein.GLIDEIN_Site, job.DESIRED_Sites)
        && glidein.GLIDEIN_CPUS >= job.RequestCpus

Its meaning is exactly what ``classad2`` gives when the expression is evaluated in the ad
``[ job = [<job attributes>]; glidein = [<entry attributes>] ]``: attribute names are
case-insensitive, a missing attribute is ``UNDEFINED``, and only the value ``true`` (or a
non-zero number) is a match. Any other reference (a bare ``Name``, ``MY.``/``TARGET.``,
``job["Name"]``, ``eval(...)``) is rejected when the expression is compiled, because jobs
are grouped by the values of the attributes the expression reads and such references would
make that grouping unsound.

Speed: ``classad2`` costs about a microsecond per evaluation, too slow for every
(job group, entry) pair of a large pool. The top-level ``&&`` conjunction is split into
terms; terms of common shapes (comparisons, ``=?=``/``=!=``, ``stringListMember`` and
``stringListIMember`` between job attributes, entry attributes and literals, and the
literals ``true``/``false``) are evaluated for all pairs at once with dictionaries and
numpy. Every other term, and every pair whose values fall outside the compiled cases
(lists, nested ads, huge integers, NaN...), is evaluated through ``classad2``, only for
the pairs whose outcome still depends on it. Terms are folded left to right with the
ClassAd four-valued ``&&`` (true, false, undefined, error), so the result, including
``UNDEFINED``/``ERROR`` outcomes, is the one ``classad2`` gives for the whole expression.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ERROR",
    "FALSE",
    "TRUE",
    "UNDEFINED",
    "MatchExpression",
    "MatchExpressionError",
    "MatchResult",
    "classad_value_code",
    "lookup_attr",
]

#: Outcome codes of a term or expression, as int8 in the result matrices.
FALSE: Final = 0
TRUE: Final = 1
UNDEFINED: Final = 2
ERROR: Final = 3
#: Internal: the compiled path cannot decide this pair; ask classad2.
_ASK: Final = 4

#: ClassAd ``a && b`` on codes: ``_AND[a, b]``. ``false`` and ``error`` on the left are
#: absorbing; ``undefined`` on the left gives ``false`` only if the right side is false.
_AND: Final = np.array(
    [
        [FALSE, FALSE, FALSE, FALSE],
        [FALSE, TRUE, UNDEFINED, ERROR],
        [FALSE, UNDEFINED, UNDEFINED, ERROR],
        [ERROR, ERROR, ERROR, ERROR],
    ],
    dtype=np.int8,
)

Codes = npt.NDArray[np.int8]


class MatchExpressionError(ValueError):
    """A match expression that does not parse, or that refers to attributes wrongly."""

    def __init__(self, expression: str, reason: str) -> None:
        super().__init__(f"match expression {expression!r}: {reason}")
        self.expression = expression
        self.reason = reason


class _Missing:
    """The value of an attribute a job or entry does not define (ClassAd UNDEFINED)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


def lookup_attr(attrs: Mapping[str, Any], name: str) -> Any:
    """Return ``attrs[name]`` with ClassAd (case-insensitive) name lookup, or ``MISSING``.

    ``None`` is read as ``UNDEFINED`` too, and returned as ``MISSING``.
    """
    value = attrs.get(name, MISSING)
    if value is MISSING:
        lname = name.lower()
        for key, val in attrs.items():
            if key.lower() == lname:
                value = val
                break
    return MISSING if value is None else value


# --------------------------------------------------------------------------------------
# Parsing: a small recursive-descent parser for the ClassAd expression grammar. It only has
# to find the top-level conjunction and recognise the compiled term shapes; classad2
# remains the authority on what parses (an expression this parser does not understand but
# classad2 does is evaluated entirely through classad2).

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<num>0[xX][0-9a-fA-F]+|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<qname>'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>=\?=|=!=|==|!=|<=|>=|&&|\|\||>>>|<<|>>|[-+*/%!~&|^?:()\[\]{},.;<>=])
    """,
    re.VERBOSE | re.DOTALL,
)

_CMP_OPS: Final = frozenset({"==", "!=", "<", "<=", ">", ">="})
_IDENT_OPS: Final = frozenset({"=?=", "=!="})
_BINARY_LEVELS: Final[tuple[frozenset[str], ...]] = (
    frozenset({"||"}),
    frozenset({"&&"}),
    frozenset({"|"}),
    frozenset({"^"}),
    frozenset({"&"}),
    frozenset({"==", "!=", "=?=", "=!=", "is", "isnt"}),
    frozenset({"<", "<=", ">", ">="}),
    frozenset({"<<", ">>", ">>>"}),
    frozenset({"+", "-"}),
    frozenset({"*", "/", "%"}),
)


class _ParseError(Exception):
    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos


@dataclass(slots=True)
class _Node:
    kind: str  # lit, ref, call, bin, other
    start: int
    end: int
    value: Any = None  # lit: python value or MISSING; ref: (scope, name); call/bin: name/op
    args: list[_Node] = field(default_factory=list)


@dataclass(slots=True)
class _Tok:
    kind: str
    text: str
    start: int
    end: int


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise _ParseError(pos, f"unexpected character {text[pos]!r}")
        kind = m.lastgroup or ""
        if kind != "ws":
            tok_text = m.group()
            if kind == "name" and tok_text.lower() in ("is", "isnt"):
                kind = "op"
                tok_text = tok_text.lower()
            toks.append(_Tok(kind, tok_text, m.start(), m.end()))
        pos = m.end()
    toks.append(_Tok("eof", "", len(text), len(text)))
    return toks


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> _Tok:
        tok = self.take()
        if tok.text != text or tok.kind not in ("op",):
            raise _ParseError(tok.start, f"expected {text!r}, found {tok.text or 'end'!r}")
        return tok

    def parse(self) -> _Node:
        node = self.expr()
        tok = self.peek()
        if tok.kind != "eof":
            raise _ParseError(tok.start, f"unexpected {tok.text!r}")
        return node

    def expr(self) -> _Node:
        cond = self.binary(0)
        if self.peek().kind == "op" and self.peek().text == "?":
            self.take()
            yes = self.expr()
            self.expect(":")
            no = self.expr()
            return _Node("other", cond.start, no.end, "?:", [cond, yes, no])
        return cond

    def binary(self, level: int) -> _Node:
        if level == len(_BINARY_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        ops = _BINARY_LEVELS[level]
        while self.peek().kind == "op" and self.peek().text in ops:
            op = self.take().text
            op = {"is": "=?=", "isnt": "=!="}.get(op, op)
            right = self.binary(level + 1)
            left = _Node("bin", left.start, right.end, op, [left, right])
        return left

    def unary(self) -> _Node:
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("!", "-", "+", "~"):
            self.take()
            inner = self.unary()
            return _Node("other", tok.start, inner.end, tok.text, [inner])
        return self.postfix()

    def postfix(self) -> _Node:
        node = self.primary()
        while self.peek().kind == "op" and self.peek().text in (".", "["):
            tok = self.take()
            if tok.text == ".":
                name = self.take()
                if name.kind not in ("name", "qname"):
                    raise _ParseError(name.start, "expected an attribute name after '.'")
                if node.kind == "ref" and node.value[0] is None:
                    node = _Node("ref", node.start, name.end, (node.value[1], _name(name)))
                else:
                    node = _Node("other", node.start, name.end, ".", [node])
            else:
                index = self.expr()
                close = self.expect("]")
                node = _Node("other", node.start, close.end, "[]", [node, index])
        return node

    def primary(self) -> _Node:
        tok = self.take()
        if tok.kind == "num":
            return _Node("lit", tok.start, tok.end, _number(tok.text))
        if tok.kind == "str":
            return _Node("lit", tok.start, tok.end, _string(tok.text))
        if tok.kind in ("name", "qname"):
            name = _name(tok)
            low = name.lower()
            if tok.kind == "name" and low in ("true", "false"):
                return _Node("lit", tok.start, tok.end, low == "true")
            if tok.kind == "name" and low == "undefined":
                return _Node("lit", tok.start, tok.end, MISSING)
            if tok.kind == "name" and low == "error":
                return _Node("other", tok.start, tok.end, "error")
            if tok.kind == "name" and self.peek().text == "(" and self.peek().kind == "op":
                self.take()
                args: list[_Node] = []
                if self.peek().text != ")":
                    args.append(self.expr())
                    while self.peek().kind == "op" and self.peek().text == ",":
                        self.take()
                        args.append(self.expr())
                close = self.expect(")")
                return _Node("call", tok.start, close.end, low, args)
            return _Node("ref", tok.start, tok.end, (None, name))
        if tok.kind == "op" and tok.text == "(":
            inner = self.expr()
            close = self.expect(")")
            # Keep the inner node (its span is enough to re-evaluate it), widened to the
            # parentheses so that the text of a term is itself an expression.
            return _Node(inner.kind, tok.start, close.end, inner.value, inner.args)
        if tok.kind == "op" and tok.text == "{":
            items: list[_Node] = []
            if self.peek().text != "}":
                items.append(self.expr())
                while self.peek().kind == "op" and self.peek().text == ",":
                    self.take()
                    items.append(self.expr())
            close = self.expect("}")
            return _Node("other", tok.start, close.end, "{}", items)
        if tok.kind == "op" and tok.text == "[":
            depth = 1
            while depth:
                inner_tok = self.take()
                if inner_tok.kind == "eof":
                    raise _ParseError(inner_tok.start, "unterminated '['")
                if inner_tok.kind == "op" and inner_tok.text == "[":
                    depth += 1
                elif inner_tok.kind == "op" and inner_tok.text == "]":
                    depth -= 1
            return _Node("other", tok.start, inner_tok.end, "[ad]")
        if tok.kind == "op" and tok.text == ".":
            attr = self.take()
            return _Node("other", tok.start, attr.end, ".abs")
        raise _ParseError(tok.start, f"unexpected {tok.text or 'end of expression'!r}")


def _calls_eval(text: str) -> bool:
    """Whether the expression calls ``eval``, whose references no parser can see."""
    try:
        toks = _tokenize(text)
    except _ParseError:
        return False
    return any(
        a.kind == "name" and a.text.lower() == "eval" and b.text == "("
        for a, b in itertools.pairwise(toks)
    )


def _name(tok: _Tok) -> str:
    if tok.kind == "qname":
        return tok.text[1:-1]
    return tok.text


def _number(text: str) -> Any:
    if text[:2].lower() == "0x":
        return int(text, 16)
    if any(c in text for c in ".eE"):
        return float(text)
    return int(text)


def _string(text: str) -> Any:
    body = text[1:-1]
    # Escapes are left to classad2: such a literal makes its term uncompiled.
    return _Escaped(body) if "\\" in body else body


@dataclass(frozen=True, slots=True)
class _Escaped:
    raw: str


# --------------------------------------------------------------------------------------
# Values and their kinds in the compiled path.

_K_MISSING: Final = 0
_K_BOOL: Final = 1
_K_INT: Final = 2
_K_REAL: Final = 3
_K_STR: Final = 4
_K_OTHER: Final = 5
_BIG: Final = 2**53


def _kind(value: Any) -> int:
    if value is MISSING:
        return _K_MISSING
    tp = type(value)
    if tp is str:
        return _K_STR
    if tp is bool:
        return _K_BOOL
    if tp is int:
        return _K_INT if -_BIG <= value <= _BIG else _K_OTHER
    if tp is float:
        return _K_REAL if math.isfinite(value) else _K_OTHER
    return _K_OTHER


def _fold(text: str) -> bytes:
    """Case folding as ClassAds do it (ASCII only, like strcasecmp in the C locale)."""
    return text.encode("utf-8", "surrogatepass").lower()


_LIST_SPLIT: Final = re.compile(r"[, \t\n\r]+")


def _string_list(text: str) -> list[str]:
    return [t for t in _LIST_SPLIT.split(text) if t]


def classad_value_code(value: Any) -> int:
    """Map a ``classad2`` evaluation result to TRUE/FALSE/UNDEFINED/ERROR.

    ``true`` and non-zero numbers are TRUE, ``false`` and zero are FALSE (as ``&&`` reads
    them); strings, lists and ads are ERROR.
    """
    if value is True:
        return TRUE
    if value is False:
        return FALSE
    name = getattr(value, "name", None)
    if name == "Undefined":
        return UNDEFINED
    if name == "Error":
        return ERROR
    if isinstance(value, int | float):
        return TRUE if value != 0 else FALSE
    return ERROR


# --------------------------------------------------------------------------------------
# Operands and terms.


@dataclass(slots=True)
class _Operand:
    """A term operand: an attribute of the job (axis 0), of the entry (axis 1), or a literal."""

    axis: int | None
    name: str = ""
    literal: Any = None


@dataclass(slots=True)
class _Column:
    values: list[Any]
    axis: int | None
    _kinds: npt.NDArray[np.int8] | None = None

    def kinds(self) -> npt.NDArray[np.int8]:
        if self._kinds is None:
            self._kinds = np.fromiter((_kind(v) for v in self.values), np.int8, len(self.values))
        return self._kinds

    def shaped(self, arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Shape a 1-D per-value array to broadcast over (groups, entries)."""
        if self.axis == 0:
            return arr.reshape(-1, 1)
        if self.axis == 1:
            return arr.reshape(1, -1)
        return arr.reshape(1, 1)


@dataclass(slots=True)
class _Term:
    text: str
    kind: str  # const, cmp, ident, slm, fallback
    op: str = ""
    left: _Operand | None = None
    right: _Operand | None = None
    const: int = TRUE
    icase: bool = False
    _expr: Any = None

    def classad_expr(self) -> Any:
        if self._expr is None:
            import classad2

            self._expr = classad2.ExprTree(self.text)
        return self._expr


def _operand(node: _Node) -> _Operand | None:
    if node.kind == "ref" and node.value[0] is not None:
        scope = node.value[0].lower()
        if scope == "job":
            return _Operand(0, node.value[1])
        if scope == "glidein":
            return _Operand(1, node.value[1])
        return None
    if node.kind == "lit" and not isinstance(node.value, _Escaped):
        return _Operand(None, literal=node.value)
    if (
        node.kind == "other"
        and node.value == "-"
        and node.args[0].kind == "lit"
        and type(node.args[0].value) in (int, float)
    ):
        return _Operand(None, literal=-node.args[0].value)
    return None


def _flatten_and(node: _Node, out: list[_Node]) -> None:
    if node.kind == "bin" and node.value == "&&":
        _flatten_and(node.args[0], out)
        _flatten_and(node.args[1], out)
    else:
        out.append(node)


def _make_term(node: _Node, text: str) -> _Term:
    src = text[node.start : node.end]
    if node.kind == "lit" and isinstance(node.value, bool):
        return _Term(src, "const", const=TRUE if node.value else FALSE)
    if node.kind == "bin" and (node.value in _CMP_OPS or node.value in _IDENT_OPS):
        left, right = _operand(node.args[0]), _operand(node.args[1])
        if left is not None and right is not None:
            kind = "cmp" if node.value in _CMP_OPS else "ident"
            return _Term(src, kind, op=node.value, left=left, right=right)
    if (
        node.kind == "call"
        and node.value in ("stringlistmember", "stringlistimember")
        and len(node.args) == 2
    ):
        left, right = _operand(node.args[0]), _operand(node.args[1])
        if left is not None and right is not None:
            icase = node.value == "stringlistimember"
            return _Term(src, "slm", left=left, right=right, icase=icase)
    return _Term(src, "fallback")


# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Outcome of a match expression over job groups x entries."""

    #: ``codes[g, e]``: TRUE/FALSE/UNDEFINED/ERROR for group ``g`` and entry ``e``.
    codes: Codes
    #: Pairs evaluated through classad2 (the rest were compiled).
    classad_pairs: int

    @property
    def matches(self) -> npt.NDArray[np.bool_]:
        """Boolean matrix: the pair matches (the expression is true)."""
        out: npt.NDArray[np.bool_] = self.codes == TRUE
        return out

    @property
    def undefined_pairs(self) -> int:
        """Number of pairs for which the expression is UNDEFINED."""
        return int(np.count_nonzero(self.codes == UNDEFINED))

    @property
    def error_pairs(self) -> int:
        """Number of pairs for which the expression is ERROR."""
        return int(np.count_nonzero(self.codes == ERROR))


class MatchExpression:
    """A compiled match expression. Build with :meth:`compile`."""

    def __init__(
        self,
        text: str,
        terms: list[_Term],
        job_attrs: tuple[str, ...],
        glidein_attrs: tuple[str, ...],
    ) -> None:
        self.text = text
        self._terms = terms
        #: Job attributes the expression reads, as first spelt in it.
        self.job_attrs = job_attrs
        #: Entry attributes the expression reads, as first spelt in it.
        self.glidein_attrs = glidein_attrs

    @classmethod
    def compile(cls, text: str) -> MatchExpression:
        """Parse ``text`` and prepare its fast evaluation.

        :raises MatchExpressionError: the expression does not parse (the message names the
            expression and the error), or it refers to something other than ``job.<Name>``
            and ``glidein.<Name>``.
        """
        import classad2
        import htcondor2  # noqa: F401  (registers stringList* and other HTCondor functions)

        try:
            tree = classad2.ExprTree(text)
        except Exception as exc:
            reason = f"does not parse ({exc})"
            try:
                _Parser(text).parse()
            except _ParseError as perr:
                reason += f"; near column {perr.pos + 1}: {perr}"
            except RecursionError:
                pass
            raise MatchExpressionError(text, reason) from exc
        job: dict[str, str] = {}
        glidein: dict[str, str] = {}
        if _calls_eval(text):
            raise MatchExpressionError(
                text,
                "refers to 'an attribute computed at run time' (eval); "
                "write job.<Name> or glidein.<Name>",
            )
        for ref in classad2.ClassAd().externalRefs(tree):
            if not ref:  # classad2 lists "" when there is no reference at all
                continue
            parts = ref.split(".")
            scope = parts[0].lower()
            if len(parts) != 2 or scope not in ("job", "glidein") or not parts[1]:
                raise MatchExpressionError(
                    text,
                    f"refers to {ref!r}; write job.<Name> or glidein.<Name>",
                )
            target = job if scope == "job" else glidein
            target.setdefault(parts[1].lower(), parts[1])
        try:
            root = _Parser(text).parse()
        except (_ParseError, RecursionError):
            terms = [_Term(text, "fallback")]
        else:
            nodes: list[_Node] = []
            _flatten_and(root, nodes)
            terms = [_make_term(node, text) for node in nodes]
        return cls(text, terms, tuple(job.values()), tuple(glidein.values()))

    @property
    def compiled_terms(self) -> int:
        """How many top-level terms are evaluated without classad2."""
        return sum(1 for t in self._terms if t.kind != "fallback")

    def __repr__(self) -> str:
        return f"MatchExpression({self.text!r})"

    # ----------------------------------------------------------------------------------

    def evaluate(
        self,
        jobs: Sequence[Mapping[str, Any]],
        glideins: Sequence[Mapping[str, Any]],
        *,
        force_classad: bool = False,
    ) -> MatchResult:
        """Evaluate the expression for every (job, glidein) pair of attribute mappings.

        ``force_classad`` evaluates every pair through classad2 (for checks and tests).
        """
        n_jobs, n_gl = len(jobs), len(glideins)
        job_cols = {
            a.lower(): _Column([lookup_attr(j, a) for j in jobs], 0) for a in self.job_attrs
        }
        gl_cols = {
            a.lower(): _Column([lookup_attr(g, a) for g in glideins], 1) for a in self.glidein_attrs
        }
        ctx = _Context(self, job_cols, gl_cols, n_jobs, n_gl)
        terms = [_Term(self.text, "fallback")] if force_classad else self._terms
        acc: Codes = np.full((n_jobs, n_gl), TRUE, dtype=np.int8)
        for term in terms:
            codes = ctx.term_codes(term)
            ask = codes == _ASK
            if ask.any():
                pending = ask & ((acc == TRUE) | (acc == UNDEFINED))
                codes = np.array(np.broadcast_to(codes, acc.shape))
                ctx.ask_classad(term, pending, codes)
                codes[codes == _ASK] = FALSE  # outcome cannot change: acc absorbs it
            acc = _and(acc, codes)
        return MatchResult(acc, ctx.classad_pairs)


def _and(acc: Codes, codes: Codes) -> Codes:
    if int(acc.max(initial=0)) <= TRUE and int(codes.max(initial=0)) <= TRUE:
        out: Codes = np.minimum(acc, codes)
        return out
    idx = acc.astype(np.intp) * 4 + codes
    looked: Codes = _AND.reshape(-1)[idx]
    return looked


class _Context:
    """Per-evaluation data: the attribute columns and the lazily built classad2 ads."""

    def __init__(
        self,
        expr: MatchExpression,
        job_cols: dict[str, _Column],
        gl_cols: dict[str, _Column],
        n_jobs: int,
        n_gl: int,
    ) -> None:
        self.expr = expr
        self.job_cols = job_cols
        self.gl_cols = gl_cols
        self.n_jobs = n_jobs
        self.n_gl = n_gl
        self.classad_pairs = 0
        self._job_ads: dict[int, Any] = {}
        self._gl_ads: dict[int, Any] = {}

    def column(self, op: _Operand) -> _Column:
        if op.axis == 0:
            return self.job_cols[op.name.lower()]
        if op.axis == 1:
            return self.gl_cols[op.name.lower()]
        return _Column([op.literal], None)

    def term_codes(self, term: _Term) -> Codes:
        if term.kind == "const":
            return np.full((1, 1), term.const, dtype=np.int8)
        if term.kind == "fallback":
            return np.full((1, 1), _ASK, dtype=np.int8)
        assert term.left is not None and term.right is not None
        left, right = self.column(term.left), self.column(term.right)
        if term.kind == "cmp":
            return _compare(term.op, left, right)
        if term.kind == "ident":
            return _identical(term.op == "=?=", left, right)
        return _string_list_member(left, right, term.icase)

    # classad2 evaluation of one term for the pending pairs ---------------------------

    def _ad(
        self, cache: dict[int, Any], cols: dict[str, _Column], names: Iterable[str], index: int
    ) -> Any:
        ad = cache.get(index)
        if ad is None:
            import classad2

            ad = classad2.ClassAd()
            for name in names:
                value = cols[name.lower()].values[index]
                if value is not MISSING:
                    ad[name] = value
            cache[index] = ad
        return ad

    def ask_classad(self, term: _Term, pending: npt.NDArray[np.bool_], codes: Codes) -> None:
        import classad2

        expr = term.classad_expr()
        rows, cols = np.nonzero(pending)
        if rows.size == 0:
            return
        self.classad_pairs += int(rows.size)
        order = np.argsort(cols, kind="stable")
        scope = classad2.ClassAd()
        current = -1
        for r, c in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
            if c != current:
                scope["glidein"] = self._ad(self._gl_ads, self.gl_cols, self.expr.glidein_attrs, c)
                current = c
            scope["job"] = self._ad(self._job_ads, self.job_cols, self.expr.job_attrs, r)
            codes[r, c] = classad_value_code(expr.eval(scope))


# --------------------------------------------------------------------------------------
# Compiled term kinds.


def _num_array(col: _Column) -> npt.NDArray[np.float64]:
    kinds = col.kinds()
    out = np.zeros(len(col.values), dtype=np.float64)
    for i in np.flatnonzero((kinds == _K_BOOL) | (kinds == _K_INT) | (kinds == _K_REAL)):
        out[i] = float(col.values[i])
    return out


def _rank_arrays(
    left: _Column, right: _Column, key: Callable[[str], Any]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    keys = {key(v) for col in (left, right) for v in col.values if type(v) is str}
    rank = {k: i for i, k in enumerate(sorted(keys))}

    def one(col: _Column) -> npt.NDArray[np.int64]:
        return np.fromiter(
            (rank[key(v)] if type(v) is str else -1 for v in col.values),
            np.int64,
            len(col.values),
        )

    return one(left), one(right)


_NUMERIC_KINDS: Final = (_K_BOOL, _K_INT, _K_REAL)

_NP_CMP: Final[dict[str, Callable[[Any, Any], npt.NDArray[np.bool_]]]] = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


def _compare(op: str, left: _Column, right: _Column) -> Codes:
    """ClassAd ``==, !=, <, <=, >, >=`` (strings compare case-insensitively)."""
    lk, rk = left.kinds(), right.kinds()
    cmp = _NP_CMP[op]
    lnum, rnum = np.isin(lk, _NUMERIC_KINDS), np.isin(rk, _NUMERIC_KINDS)
    if lnum.all() and rnum.all():  # fast path: numbers only
        res = cmp(left.shaped(_num_array(left)), right.shaped(_num_array(right)))
        return res.astype(np.int8)
    lk2, rk2 = left.shaped(lk), right.shaped(rk)
    lnum2, rnum2 = left.shaped(lnum), right.shaped(rnum)
    lstr2, rstr2 = lk2 == _K_STR, rk2 == _K_STR
    shape = np.broadcast_shapes(lk2.shape, rk2.shape)
    out: Codes = np.full(shape, UNDEFINED, dtype=np.int8)
    both_num = lnum2 & rnum2
    if both_num.any():
        res = cmp(left.shaped(_num_array(left)), right.shaped(_num_array(right)))
        out[both_num] = np.broadcast_to(res, shape)[both_num]
    both_str = lstr2 & rstr2
    if both_str.any():
        lr, rr = _rank_arrays(left, right, _fold)
        res = cmp(left.shaped(lr), right.shaped(rr))
        out[both_str] = np.broadcast_to(res, shape)[both_str]
    out[(lnum2 & rstr2) | (lstr2 & rnum2)] = ERROR
    out[(lk2 == _K_OTHER) | (rk2 == _K_OTHER)] = _ASK
    return out


def _identical(same: bool, left: _Column, right: _Column) -> Codes:
    """ClassAd ``=?=`` / ``=!=``: same type and value, strings case-sensitive; never UNDEFINED."""
    lk, rk = left.shaped(left.kinds()), right.shaped(right.kinds())
    shape = np.broadcast_shapes(lk.shape, rk.shape)
    equal = np.broadcast_to(lk == rk, shape).copy()  # same kind (MISSING =?= MISSING)
    num = np.isin(lk, _NUMERIC_KINDS) & (lk == rk)
    if num.any():
        res = left.shaped(_num_array(left)) == right.shaped(_num_array(right))
        equal &= ~num | res
    strs = (lk == _K_STR) & (rk == _K_STR)
    if strs.any():
        lr, rr = _rank_arrays(left, right, lambda s: s)
        equal &= ~strs | (left.shaped(lr) == right.shaped(rr))
    out: Codes = np.where(equal == same, TRUE, FALSE).astype(np.int8)
    out[np.broadcast_to((lk == _K_OTHER) | (rk == _K_OTHER), shape)] = _ASK
    return out


def _string_list_member(elem: _Column, lst: _Column, icase: bool) -> Codes:
    """``stringListMember(elem, lst)``: ``elem`` is one of the items of the string ``lst``.

    Items are separated by commas and whitespace. One argument UNDEFINED gives false, both
    give UNDEFINED; any other non-string argument is left to classad2.
    """
    ek, lk = elem.kinds(), lst.kinds()
    norm: Callable[[str], Any] = _fold if icase else (lambda s: s)
    n_e, n_l = len(elem.values), len(lst.values)
    # member[i, j]: element i is in list j (TRUE/FALSE), computed with an index of the
    # element values so the cost is the number of list items, not the number of pairs.
    member = np.zeros((n_e, n_l), dtype=np.int8)
    same_axis = elem.axis is not None and elem.axis == lst.axis
    if same_axis:
        for i in range(n_e):
            if ek[i] == _K_STR and lk[i] == _K_STR:
                items = {norm(t) for t in _string_list(lst.values[i])}
                member[i, i] = TRUE if norm(elem.values[i]) in items else FALSE
    else:
        index: dict[Any, list[int]] = {}
        for i, v in enumerate(elem.values):
            if ek[i] == _K_STR:
                index.setdefault(norm(v), []).append(i)
        rows: list[int] = []
        cols: list[int] = []
        for j, v in enumerate(lst.values):
            if lk[j] != _K_STR:
                continue
            for item in {norm(t) for t in _string_list(v)}:
                hit = index.get(item)
                if hit is not None:
                    rows.extend(hit)
                    cols.extend([j] * len(hit))
        if rows:
            member[np.array(rows, dtype=np.intp), np.array(cols, dtype=np.intp)] = TRUE
    odd_e = (ek != _K_STR) & (ek != _K_MISSING)
    odd_l = (lk != _K_STR) & (lk != _K_MISSING)
    if same_axis:
        diag = np.diagonal(member).copy()
        diag[(ek == _K_MISSING) & (lk == _K_MISSING)] = UNDEFINED
        diag[odd_e | odd_l] = _ASK
        return elem.shaped(diag)
    # Both arguments UNDEFINED: UNDEFINED (one alone gives false).
    member[np.ix_(ek == _K_MISSING, lk == _K_MISSING)] = UNDEFINED
    member[odd_e, :] = _ASK
    member[:, odd_l] = _ASK
    # Orient to (groups, entries).
    if elem.axis == 1 or lst.axis == 0:
        member = member.T
        return np.ascontiguousarray(member).reshape(
            n_l if lst.axis == 0 else 1, n_e if elem.axis == 1 else 1
        )
    return member.reshape(n_e if elem.axis == 0 else 1, n_l if lst.axis == 1 else 1)
