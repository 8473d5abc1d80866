"""How long a test waits before it calls something hung.

The suite runs on shared machines that are often busy (CI too), with two workers at once. A wait
that only stops a hung test is therefore generous: it costs nothing when the test passes, and a
slow machine never fails a test. What a test asserts never depends on how fast the machine is:
timings are checked from below (a timeout did not fire early), never from above.
"""

from __future__ import annotations

from typing import Final

#: The longest a test waits for something that must happen (a frame, a reply, a process).
HANG_GUARD: Final = 60.0
