"""JSON endpoints of the points package."""

from flask_smorest import Blueprint

blp = Blueprint("points", __name__, url_prefix="/api/v1", description="Earning points")
