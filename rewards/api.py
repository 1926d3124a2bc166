"""JSON endpoints of the rewards package."""

from flask_smorest import Blueprint

blp = Blueprint("rewards", __name__, url_prefix="/api/v1", description="Rewards and vouchers")
