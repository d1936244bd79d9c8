"""Roles and the acting person. Plain data, no I/O.

A role names what a person may do; the scope (rooms for a room administrator,
towns for a town coordinator) names where.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    DISTRICT_ADMIN = "district_admin"
    DISTRICT_STAFF = "district_staff"
    TOWN_COORDINATOR = "town_coordinator"
    ROOM_ADMIN = "room_admin"
    INSPECTOR = "inspector"
    TRAINER = "trainer"


ROLE_LABELS: dict[Role, str] = {
    Role.DISTRICT_ADMIN: "区馆管理员",
    Role.DISTRICT_STAFF: "区馆工作人员",
    Role.TOWN_COORDINATOR: "镇街联络员",
    Role.ROOM_ADMIN: "书屋管理员",
    Role.INSPECTOR: "督查员",
    Role.TRAINER: "培训师",
}

ALL_STAFF: frozenset[Role] = frozenset(Role)
DISTRICT: frozenset[Role] = frozenset({Role.DISTRICT_ADMIN, Role.DISTRICT_STAFF})
ADMIN_ONLY: frozenset[Role] = frozenset({Role.DISTRICT_ADMIN})
# Who may use the district console (room administrators use the phone pages).
CONSOLE: frozenset[Role] = ALL_STAFF - {Role.ROOM_ADMIN}
# Who works at a room's desk on a phone.
PHONE: frozenset[Role] = frozenset({Role.ROOM_ADMIN, Role.TOWN_COORDINATOR}) | DISTRICT


@dataclass(frozen=True)
class Actor:
    """The logged-in staff member making a request, with where the request came from."""

    staff_id: str
    username: str
    name: str
    role: Role
    rooms: frozenset[str] = field(default_factory=frozenset)
    towns: frozenset[str] = field(default_factory=frozenset)
    request_id: str = ""
    ip: str = ""

    @property
    def sees_whole_district(self) -> bool:
        """District roles, inspectors and trainers see every room; others only their scope."""
        return self.role in {Role.DISTRICT_ADMIN, Role.DISTRICT_STAFF, Role.INSPECTOR, Role.TRAINER}

    def can_access_room(self, code: str, town: str) -> bool:
        if self.sees_whole_district:
            return True
        if self.role is Role.TOWN_COORDINATOR:
            return town in self.towns
        if self.role is Role.ROOM_ADMIN:
            return code in self.rooms
        return False

    def room_filter(self) -> dict[str, object]:
        """A Mongo filter on ``rooms`` restricting a listing to this actor's scope."""
        if self.sees_whole_district:
            return {}
        if self.role is Role.TOWN_COORDINATOR:
            return {"town": {"$in": sorted(self.towns)}}
        return {"code": {"$in": sorted(self.rooms)}}
