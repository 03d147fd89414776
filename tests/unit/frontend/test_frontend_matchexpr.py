"""Match expressions: parse errors, reference rules, ClassAd semantics, compiled == classad2."""

from __future__ import annotations

from typing import Any

import classad2
import htcondor2  # noqa: F401  (registers stringListMember and friends in classad2)
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwms_core.frontend.matchexpr import (
    ERROR,
    FALSE,
    TRUE,
    UNDEFINED,
    MatchExpression,
    MatchExpressionError,
    classad_value_code,
)

BENCH_EXPR = (
    "stringListMember(glidein.GLIDEIN_Site, job.DESIRED_Sites) "
    "&& glidein.GLIDEIN_CPUS >= job.RequestCpus"
)


def classad_code(text: str, job: dict[str, Any], glidein: dict[str, Any]) -> int:
    """The reference: classad2 evaluates the whole expression in [job=[..]; glidein=[..]]."""
    scope = classad2.ClassAd()
    scope["job"] = classad2.ClassAd({k: v for k, v in job.items() if v is not None})
    scope["glidein"] = classad2.ClassAd({k: v for k, v in glidein.items() if v is not None})
    return classad_value_code(classad2.ExprTree(text).eval(scope))


# -- compile-time checks -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["stringListMember(glidein.GLIDEIN_Site, ", "job.A >", "job.A == (1", "&& job.A"],
)
def test_parse_error_names_expression_and_error(text: str) -> None:
    with pytest.raises(MatchExpressionError) as info:
        MatchExpression.compile(text)
    message = str(info.value)
    assert repr(text) in message
    assert "does not parse" in message


def test_parse_error_points_at_the_column() -> None:
    with pytest.raises(MatchExpressionError, match="near column 9"):
        MatchExpression.compile("job.A > )")


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("RequestCpus > 1", "RequestCpus"),
        ("MY.RequestCpus > 1", "RequestCpus"),
        ("TARGET.GLIDEIN_CPUS > 1", "TARGET.GLIDEIN_CPUS"),
        ('job["RequestCpus"] > 1', "job"),
        ("job.A.B > 1", "job.A.B"),
        ('eval("job.A") > 1', "computed at run time"),
    ],
)
def test_references_must_be_job_or_glidein_attributes(text: str, bad: str) -> None:
    with pytest.raises(MatchExpressionError, match=r"write job\.<Name> or glidein\.<Name>") as info:
        MatchExpression.compile(text)
    assert bad in str(info.value)


def test_attributes_read_are_found_once_each_case_insensitively() -> None:
    expr = MatchExpression.compile(
        "job.RequestCpus <= glidein.GLIDEIN_CPUS && JOB.requestcpus > 0 "
        "&& ifThenElse(job.X =?= undefined, true, glidein.Y == job.X)"
    )
    assert sorted(expr.job_attrs) == ["RequestCpus", "X"]
    assert sorted(expr.glidein_attrs) == ["GLIDEIN_CPUS", "Y"]


def test_benchmark_expression_is_fully_compiled() -> None:
    expr = MatchExpression.compile(BENCH_EXPR)
    assert expr.compiled_terms == 2
    jobs = [{"DESIRED_Sites": "S1,S2", "RequestCpus": 8}, {"DESIRED_Sites": "S3", "RequestCpus": 1}]
    gls = [{"GLIDEIN_Site": s, "GLIDEIN_CPUS": c} for s in ("S1", "S2", "S3") for c in (1, 8)]
    result = expr.evaluate(jobs, gls)
    assert result.classad_pairs == 0
    # job 0 fits only the 8-core entries at S1 and S2; job 1 fits both entries at S3.
    assert result.matches.tolist() == [
        [False, True, False, True, False, False],
        [False, False, False, False, True, True],
    ]


# -- semantics, hand-picked cases checked against classad2 ------------------------------

SEMANTIC_CASES: list[tuple[str, dict[str, Any], dict[str, Any], int]] = [
    # stringListMember: items split on commas and whitespace, case-sensitive
    ("stringListMember(glidein.S, job.L)", {"L": "a, b\tc"}, {"S": "c"}, TRUE),
    ("stringListMember(glidein.S, job.L)", {"L": "a,b"}, {"S": "A"}, FALSE),
    ("stringListIMember(glidein.S, job.L)", {"L": "a,b"}, {"S": "A"}, TRUE),
    ("stringListMember(glidein.S, job.L)", {"L": "a b,c"}, {"S": "a b"}, FALSE),
    # an UNDEFINED argument gives false, not undefined
    ("stringListMember(glidein.S, job.L)", {}, {"S": "a"}, FALSE),
    ("stringListMember(glidein.S, job.L)", {"L": "a"}, {}, FALSE),
    # a non-string argument is an error
    ("stringListMember(glidein.S, job.L)", {"L": "1,2"}, {"S": 1}, ERROR),
    # comparisons: numbers across int/real/bool, strings case-insensitive
    ("glidein.C >= job.C", {"C": 8}, {"C": 8.0}, TRUE),
    ("glidein.C >= job.C", {"C": True}, {"C": 1}, TRUE),
    ("glidein.N == job.N", {"N": "Site"}, {"N": "SITE"}, TRUE),
    ("glidein.N < job.N", {"N": "b"}, {"N": "A"}, TRUE),
    ("glidein.N < job.N", {"N": "a"}, {"N": "_"}, TRUE),
    ("glidein.C >= job.C", {"C": "8"}, {"C": 8}, ERROR),
    ("glidein.C >= job.C", {}, {"C": 8}, UNDEFINED),
    # =?= is strict: type and case matter, never undefined
    ("glidein.C =?= job.C", {"C": 1}, {"C": 1.0}, FALSE),
    ("glidein.N =?= job.N", {"N": "a"}, {"N": "A"}, FALSE),
    ("glidein.N =?= job.N", {}, {}, TRUE),
    ("glidein.N isnt job.N", {}, {"N": 1}, TRUE),
    # && on four values: undefined && false is false, error on the left wins
    ("job.C > 1 && glidein.C > 1", {}, {"C": 0}, FALSE),
    ("job.C > 1 && glidein.C > 1", {}, {"C": 5}, UNDEFINED),
    ("job.C > 1 && glidein.C > 1", {"C": "x"}, {"C": 0}, ERROR),
    # terms that are not compiled go through classad2 with the same result
    ('regexp("^T2_", glidein.S) && job.C <= glidein.C', {"C": 1}, {"S": "T2_X", "C": 2}, TRUE),
    ("ifThenElse(job.C > 4, glidein.C >= 8, true)", {"C": 8}, {"C": 4}, FALSE),
    ("glidein.C - 1 >= job.C", {"C": 8}, {"C": 8}, FALSE),
    ("glidein.C >= -1", {}, {"C": 0}, TRUE),
    # a single non-boolean value: non-zero number is a match, a string is an error
    ("glidein.C", {}, {"C": 3}, TRUE),
    ("glidein.C", {}, {"C": "x"}, ERROR),
]


@pytest.mark.parametrize(("text", "job", "glidein", "want"), SEMANTIC_CASES)
def test_semantics_match_classad2(
    text: str, job: dict[str, Any], glidein: dict[str, Any], want: int
) -> None:
    assert classad_code(text, job, glidein) == want, "the reference itself"
    expr = MatchExpression.compile(text)
    assert int(expr.evaluate([job], [glidein]).codes[0, 0]) == want


def test_attribute_names_are_case_insensitive() -> None:
    expr = MatchExpression.compile("glidein.glidein_cpus >= JOB.requestCPUS")
    result = expr.evaluate([{"RequestCpus": 4}], [{"GLIDEIN_CPUS": 8}, {"GLIDEIN_CPUS": 2}])
    assert result.matches.tolist() == [[True, False]]


def test_undefined_and_error_are_no_match_and_counted() -> None:
    expr = MatchExpression.compile("glidein.C >= job.C")
    jobs = [{"C": 1}, {}, {"C": "x"}]
    result = expr.evaluate(jobs, [{"C": 2}, {"C": 0}])
    assert result.matches.tolist() == [[True, False], [False, False], [False, False]]
    assert result.undefined_pairs == 2
    assert result.error_pairs == 2


def test_classad2_only_asked_where_the_outcome_depends_on_it() -> None:
    # The compiled first term is false for every pair but one, so the regexp term (not
    # compiled) is evaluated for that pair only.
    expr = MatchExpression.compile('glidein.C >= job.C && regexp("x", glidein.S)')
    jobs = [{"C": 8}, {"C": 9}]
    gls = [{"C": 8, "S": "x"}, {"C": 1, "S": "x"}]
    result = expr.evaluate(jobs, gls)
    assert result.classad_pairs == 1
    assert result.matches.tolist() == [[True, False], [False, False]]


# -- property: the compiled path equals classad2 ----------------------------------------

JOB_NAMES = ("A", "B")
GL_NAMES = ("X", "Y")

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.0, 1.0, 2.5, -1.5]),
    st.text(alphabet="aAb_, \t", max_size=6),
    st.lists(st.integers(0, 2), max_size=2),
)
literals = st.sampled_from(['"a"', '"A"', '"a,b"', "1", "2.5", "-1", "true", "undefined", '""'])
operands = st.one_of(
    st.sampled_from([f"job.{n}" for n in JOB_NAMES] + ["JOB.a", "job.b"]),
    st.sampled_from([f"glidein.{n}" for n in GL_NAMES] + ["GLIDEIN.x"]),
    literals,
)


@st.composite
def terms(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["cmp", "ident", "slm", "const", "other"]))
    a, b = draw(operands), draw(operands)
    if kind == "cmp":
        return f"{a} {draw(st.sampled_from(['==', '!=', '<', '<=', '>', '>=']))} {b}"
    if kind == "ident":
        return f"{a} {draw(st.sampled_from(['=?=', '=!=', 'is', 'isnt']))} {b}"
    if kind == "slm":
        return f"{draw(st.sampled_from(['stringListMember', 'stringListIMember']))}({a}, {b})"
    if kind == "const":
        return draw(st.sampled_from(["true", "false", "TRUE"]))
    return draw(
        st.sampled_from(
            [
                f"ifThenElse({a} == {b}, true, {a})",
                f"!({a} == {b})",
                f"({a} || {b})",
                f"{a}",
                f"{a} + 1 > {b}",
                f'regexp("a", {a})',
            ]
        )
    )


@st.composite
def expressions(draw: st.DrawFn) -> str:
    parts = draw(st.lists(terms(), min_size=1, max_size=4))
    text = parts[0]
    for part in parts[1:]:
        text = f"({text}) && {part}" if draw(st.booleans()) else f"{text} && {part}"
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=expressions(),
    jobs=st.lists(
        st.fixed_dictionaries({}, optional={n: values for n in JOB_NAMES}), min_size=1, max_size=4
    ),
    gls=st.lists(
        st.fixed_dictionaries({}, optional={n: values for n in GL_NAMES}), min_size=1, max_size=4
    ),
)
def test_compiled_equals_classad2(
    text: str, jobs: list[dict[str, Any]], gls: list[dict[str, Any]]
) -> None:
    expr = MatchExpression.compile(text)
    got = expr.evaluate(jobs, gls).codes
    for i, job in enumerate(jobs):
        for j, gl in enumerate(gls):
            want = classad_code(text, job, gl)
            assert int(got[i, j]) == want, (text, job, gl)


@settings(max_examples=100, deadline=None)
@given(
    jobs=st.lists(
        st.fixed_dictionaries(
            {
                "DESIRED_Sites": st.lists(
                    st.sampled_from(["S1", "S2", "S3", "s1"]), max_size=3
                ).map(",".join),
                "RequestCpus": st.sampled_from([1, 4, 8]),
            }
        ),
        min_size=1,
        max_size=6,
    ),
    gls=st.lists(
        st.fixed_dictionaries(
            {
                "GLIDEIN_Site": st.sampled_from(["S1", "S2", "S3", "S4"]),
                "GLIDEIN_CPUS": st.sampled_from([1, 8]),
            }
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_benchmark_shape_compiled_equals_classad2(
    jobs: list[dict[str, Any]], gls: list[dict[str, Any]]
) -> None:
    expr = MatchExpression.compile(BENCH_EXPR)
    result = expr.evaluate(jobs, gls)
    assert result.classad_pairs == 0
    for i, job in enumerate(jobs):
        for j, gl in enumerate(gls):
            assert int(result.codes[i, j]) == classad_code(BENCH_EXPR, job, gl)
