"""Test-double toolkit: the pytest plugin's fixtures and the handles they yield.

    from emulator.testing import InProcessEmulator, LiveEmulator

Both handles offer the same helpers (credentials, minting tokens and signatures, clock,
faults, journal, rate limits, evidence, reset, snapshots); see ``handle.EmulatorHandle``.
"""

from .handle import AdminError, Credentials, EmulatorHandle
from .inprocess import InProcessEmulator
from .server import LiveEmulator, SharedEmulator

__all__ = ["AdminError", "Credentials", "EmulatorHandle", "InProcessEmulator", "LiveEmulator", "SharedEmulator"]
