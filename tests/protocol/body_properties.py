"""The tests every body module states, built from that module's own tables.

A body test module lists its bodies once, with the revisions each exists in, and its golden
bodies once; these factories turn the lists into parametrized tests, one case a (body,
revision), named like ``TerminalRegister-2019``::

    test_body_properties = body_property_tests(BODIES)
    test_golden_bytes = golden_bytes_test(GOLDEN)
    test_truncated_bodies_raise_truncated_body_error = truncation_test(TRUNCATED)

Strategies a module registers in ``CUSTOM`` stay in that module: the tests draw only when they
run, after the module has been imported.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol import BodyError, ProtocolVersion, TruncatedBodyError
from gateway.protocol.body import Body

from .strategies import assert_round_trip, decode_layout, encode_layout, layout_strategy

#: A revision, or several.
Versions: TypeAlias = ProtocolVersion | Sequence[ProtocolVersion]
#: (body class, the revisions it exists in).
BodyCases: TypeAlias = Sequence[tuple[type[Body], Sequence[ProtocolVersion]]]
#: (body, the revision or revisions it is written the same in, its bytes as hex; spaces allowed).
GoldenCases: TypeAlias = Sequence[tuple[Body, Versions, str]]
#: (body class, revision, a whole body as hex, the prefix lengths that must be truncated; None:
#: every prefix shorter than the whole body).
TruncationCases: TypeAlias = Sequence[tuple[type[Body], ProtocolVersion, str, Sequence[int] | None]]
TestFunction: TypeAlias = Callable[..., None]


def _versions(versions: Versions) -> tuple[ProtocolVersion, ...]:
    return (versions,) if isinstance(versions, ProtocolVersion) else tuple(versions)


def _case_id(cls: type[Any], version: ProtocolVersion) -> str:
    return f"{cls.__name__}-{version.value}"


def _unique(ids: list[str]) -> list[str]:
    """The ids, with ``-1``, ``-2``, ... after each one that occurs more than once."""
    totals = Counter(ids)
    seen: Counter[str] = Counter()
    unique = []
    for name in ids:
        seen[name] += 1
        unique.append(f"{name}-{seen[name]}" if totals[name] > 1 else name)
    return unique


def _body_cases(bodies: BodyCases) -> list[pytest.ParameterSet]:
    """One ``(cls, version)`` parameter set a body and revision."""
    return [
        pytest.param(cls, version, id=_case_id(cls, version))
        for cls, versions in bodies
        for version in versions
    ]


def every_prefix_test(bodies: BodyCases) -> TestFunction:
    """Every prefix of a drawn body's bytes decodes or raises ``BodyError``, nothing else."""

    @pytest.mark.parametrize(("cls", "version"), _body_cases(bodies))
    @given(data=st.data())
    def test_every_prefix_of_a_body_decodes_or_raises_body_error(
        cls: type[Body], version: ProtocolVersion, data: st.DataObject
    ) -> None:
        wire = encode_layout(data.draw(layout_strategy(cls, version)), version)
        for size in range(len(wire)):
            with contextlib.suppress(BodyError):
                cls.decode(wire[:size], version)

    return cast(TestFunction, test_every_prefix_of_a_body_decodes_or_raises_body_error)


def body_property_tests(
    bodies: BodyCases, *, check_decoded: Callable[[Any, Any], None] | None = None
) -> TestFunction:
    """Drawn bodies survive encode → decode → encode (``assert_round_trip``) in each revision,
    and every prefix of their bytes decodes or raises ``BodyError`` (``every_prefix_test``).

    ``check_decoded(drawn, decoded)`` adds what a module knows more about its bodies (such as
    values coming back equal where ``assert_round_trip`` cannot compare them field by field).
    One test checks both properties on each drawn body: drawing is most of the cost, and each
    property still sees as many bodies as it would alone.
    """

    @pytest.mark.parametrize(("cls", "version"), _body_cases(bodies))
    @given(data=st.data())
    def test_drawn_bodies_round_trip_and_their_prefixes_decode_or_raise_body_error(
        cls: type[Body], version: ProtocolVersion, data: st.DataObject
    ) -> None:
        value = data.draw(layout_strategy(cls, version))
        decoded = assert_round_trip(value, version)
        if check_decoded is not None:
            check_decoded(value, decoded)
        wire = encode_layout(value, version)
        for size in range(len(wire)):
            with contextlib.suppress(BodyError):
                cls.decode(wire[:size], version)

    return cast(
        TestFunction, test_drawn_bodies_round_trip_and_their_prefixes_decode_or_raise_body_error
    )


def golden_bytes_test(golden: GoldenCases) -> TestFunction:
    """Each golden body encodes to its bytes, and its bytes decode to it, in each revision."""
    cases = [
        (body, version, hex_text)
        for body, versions, hex_text in golden
        for version in _versions(versions)
    ]
    ids = _unique([_case_id(type(body), version) for body, version, _ in cases])

    @pytest.mark.parametrize(
        ("body", "version", "golden"),
        [pytest.param(*case, id=name) for case, name in zip(cases, ids, strict=True)],
    )
    def test_golden_bytes(body: Body, version: ProtocolVersion, golden: str) -> None:
        wire = bytes.fromhex(golden)
        assert encode_layout(body, version).hex() == wire.hex()
        assert decode_layout(type(body), wire, version) == body

    return test_golden_bytes


def truncation_test(cases: TruncationCases) -> TestFunction:
    """The whole body decodes; each listed prefix of it raises ``TruncatedBodyError``."""
    ids = _unique([_case_id(cls, version) for cls, version, _, _ in cases])

    @pytest.mark.parametrize(
        ("cls", "version", "whole", "sizes"),
        [pytest.param(*case, id=name) for case, name in zip(cases, ids, strict=True)],
    )
    def test_truncated_bodies_raise_truncated_body_error(
        cls: type[Body], version: ProtocolVersion, whole: str, sizes: Sequence[int] | None
    ) -> None:
        wire = bytes.fromhex(whole)
        cls.decode(wire, version)
        for size in range(len(wire)) if sizes is None else sizes:
            with pytest.raises(TruncatedBodyError):
                cls.decode(wire[:size], version)

    return test_truncated_bodies_raise_truncated_body_error
