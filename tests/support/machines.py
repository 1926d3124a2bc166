"""The scaffolding of a hypothesis state machine that runs against one real database."""

from __future__ import annotations

import shutil

from hypothesis.stateful import RuleBasedStateMachine

from core.errors import AppError
from core.extensions import db
from core.identity.models import Member
from tests.conftest import dispose, empty_postgres_database, make_app
from tests.factories import World, build_world
from tests.rewards.conftest import give_points, make_reward


class WorldMachine(RuleBasedStateMachine):
    """Each example starts on an emptied database holding the standard world.

    Subclasses set ``database_url`` and ``sqlite_template`` (see ``bind``) and call
    ``start_world()`` from their ``@initialize`` rule.
    """

    database_url: str = ""
    sqlite_template = None

    @classmethod
    def bind(cls, database_url: str, sqlite_template):
        """Return a subclass that runs against ``database_url``."""
        return type(cls.__name__, (cls,), {"database_url": database_url, "sqlite_template": sqlite_template})

    def start_world(self) -> World:
        """Empty the database, start an app on it and build the world."""
        if self.database_url.startswith("sqlite"):
            shutil.copyfile(self.sqlite_template, self.database_url.removeprefix("sqlite:///"))
        else:
            empty_postgres_database(self.database_url)
        self.app = make_app(self.database_url)
        self.context = self.app.app_context()
        self.context.push()
        world = build_world()
        self.people = world.people
        return world

    def start_shop(self, members, points: int) -> World:
        """Start the world with two rewards in the catalogue (soap at 20 points, oil at 70 and two a
        member) for shop A, and ``points`` given to each of ``members``."""
        world = self.start_world()
        self.shop = world.shops["a"]
        self.rewards = {
            "soap": make_reward("肥皂", 20),
            "oil": make_reward("食用油", 70, per_member_limit=2),
        }
        for key in members:
            give_points(self.people[key], points)
        return world

    def teardown(self):
        if hasattr(self, "context"):
            db.session.remove()
            self.context.pop()
            dispose(self.app)

    def actor(self, key: str) -> Member:
        """Load one of the world's people."""
        return db.session.get(Member, self.people[key])

    def attempt(self, call):
        """Run one service call; a refusal leaves nothing behind and answers None."""
        try:
            return call()
        except AppError:
            db.session.rollback()
            return None
