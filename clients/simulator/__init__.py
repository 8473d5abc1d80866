"""The terminal simulator behind ``jt808 simulate``.

* ``terminal``: one simulated terminal, sans-I/O (``SimulatedTerminal``, ``TerminalProfile``).
* ``track``: the deterministic vehicle track its location reports follow.
* ``runner``: N terminals over TCP on anyio, with a summary (``Simulation``).
* ``stats``: the bounded latency histogram and the run's counters.
"""
