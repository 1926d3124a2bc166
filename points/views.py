"""Pages of the points package."""

from flask import Blueprint

bp = Blueprint("points_pages", __name__, template_folder="templates")
