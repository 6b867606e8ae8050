"""What consent needs to know about agencies, without importing the gateway's registry.

The gateway implements :class:`AgencyDirectory` over its registry tables and passes it in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class AgencyInfo:
    """The registry facts the consent rules use."""

    id: str
    name: str
    kind: str
    jurisdiction: str
    mandated_reporter: bool = False
    statutory_duties: tuple[str, ...] = ()
    addressable: bool = True
    """False for the gateway operator, which never receives anything."""


class AgencyDirectory(Protocol):
    """Looks agencies up by id; ``None`` for an id that is not registered."""

    def get(self, agency_id: str) -> AgencyInfo | None: ...


class StaticDirectory:
    """A directory over a fixed mapping: the shipped double for tests and tools."""

    def __init__(self, agencies: Mapping[str, AgencyInfo]) -> None:
        self._agencies = dict(agencies)

    def get(self, agency_id: str) -> AgencyInfo | None:
        return self._agencies.get(agency_id)
