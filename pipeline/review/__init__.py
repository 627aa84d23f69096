"""Secretary review web app: `create_app(settings)`."""

from pipeline.review.app import create_app

__all__ = ["create_app"]
