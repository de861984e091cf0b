"""The shared extension objects; bound to an app in ``create_app``."""

from typing import TYPE_CHECKING

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData

from app.errors import ProblemApi

# Deterministic constraint names so migrations can alter them on SQLite and PostgreSQL alike.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING))
migrate = Migrate()
api = ProblemApi()

# The base class of every table. Flask-SQLAlchemy builds ``db.Model`` at run time, so a type checker
# cannot see it as a class; it is, to the checker, a declarative base with Flask-SQLAlchemy's
# additions (``query``), which is what it is at run time.
if TYPE_CHECKING:
    from flask_sqlalchemy.model import Model as _FlaskModel
    from sqlalchemy.orm import DeclarativeBase

    class Model(_FlaskModel, DeclarativeBase):
        pass
else:
    Model = db.Model
