"""Pages of the rewards package."""

from flask import Blueprint

bp = Blueprint("rewards_pages", __name__, template_folder="templates")
