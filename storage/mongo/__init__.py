"""The MongoDB implementation of the storage contract (works on MongoDB and FerretDB 1.x)."""

from storage.mongo.store import MongoStore

__all__ = ["MongoStore"]
