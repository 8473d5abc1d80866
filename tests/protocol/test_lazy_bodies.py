"""The bodies imported on first use (``gateway.protocol.bodies.LAZY``): the table names exactly
the ids each module registers, and a message of a lazy body decodes as if it had been imported
at start (a fresh interpreter shows what importing the core alone loads)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from gateway.protocol import bodies, body, known_ids
from gateway.protocol.bodies import LAZY


def test_the_table_names_exactly_the_ids_each_lazy_module_registers() -> None:
    known_ids()  # imports every lazy module
    for name, ids in LAZY.items():
        module = f"gateway.protocol.bodies.{name}"
        registered = {i for i, cls in body._REGISTRY.items() if cls.__module__ == module}
        assert registered == set(ids), name
        assert len(ids) == len(set(ids)), name


def test_a_lazy_module_is_an_attribute_of_the_package() -> None:
    assert bodies.parameters.ParameterId.HEARTBEAT_INTERVAL == 0x0001


def test_the_core_alone_imports_no_lazy_body_and_decodes_one_on_first_use() -> None:
    script = textwrap.dedent(
        """
        import json, sys
        from gateway.protocol import V2013, decode_body
        from gateway.protocol.bodies import LAZY
        lazy = [n for n in LAZY if f"gateway.protocol.bodies.{n}" in sys.modules]
        # 0x0104 (the answer to a parameter query): serial 7, one item, heartbeat = 30 s.
        wire = bytes.fromhex("0007 01 00000001 04 0000001E")
        decoded, trailing = decode_body(0x0104, wire, V2013)
        again, _ = decode_body(0x0104, wire, V2013)
        print(json.dumps({
            "lazy_at_start": lazy,
            "class": type(decoded).__name__,
            "equal": decoded == again,
            "trailing": trailing.hex(),
            "loaded": "gateway.protocol.bodies.parameters" in sys.modules,
        }))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == {
        "lazy_at_start": [],
        "class": "QueryParametersResponse",
        "equal": True,
        "trailing": "",
        "loaded": True,
    }
