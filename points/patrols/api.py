"""JSON endpoints of patrols: routes, their checkpoint posters, scans, and the rounds of a night."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from core.api import PageQuerySchema, page_schema
from core.config import public_base_url
from core.idempotency import idempotent
from core.identity.auth import current_member
from points.patrols import services
from points.patrols.schemas import (
    CreatePatrolRouteSchema,
    PatrolRouteSchema,
    RoundPageSchema,
    RoundQuerySchema,
    ScanRequestSchema,
    ScanSchema,
)
from points.poster import render_checkpoint_posters

blp = Blueprint(
    "patrols", __name__, url_prefix="/api/v1", description="Patrols (巡逻): routes and checkpoint scans"
)


@blp.route("/patrol-routes")
class PatrolRoutes(MethodView):
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, page_schema(PatrolRouteSchema))
    def get(self, query):
        """List the patrol routes in my scope (organisers and admins)."""
        return services.list_routes(current_member(), query["page"], query["page_size"])

    @blp.arguments(CreatePatrolRouteSchema)
    @blp.response(201, PatrolRouteSchema)
    def post(self, body):
        """Draw a route of 2–30 ordered checkpoints with a window (HH:MM, may cross midnight) and the
        least minutes between two scans (organisers and admins in scope)."""
        body["checkpoints"] = [checkpoint["name"] for checkpoint in body["checkpoints"]]
        return services.create_route(current_member(), **body)


@blp.route("/patrol-routes/<id:route_id>")
class PatrolRouteItem(MethodView):
    @blp.response(200, PatrolRouteSchema)
    def get(self, route_id):
        """Show a route with its checkpoints' codes."""
        return services.read_route(current_member(), route_id)


@blp.route("/patrol-routes/<id:route_id>/posters.pdf")
class PatrolRoutePosters(MethodView):
    @blp.response(200, content_type="application/pdf")
    def get(self, route_id):
        """The route's checkpoint posters: one A4 page per checkpoint (its QR code and name), as a PDF."""
        route = services.read_route(current_member(), route_id)
        base = public_base_url()
        pdf = render_checkpoint_posters(
            route, [services.checkpoint_url(checkpoint, base) for checkpoint in route.checkpoints]
        )
        return Response(
            pdf,
            mimetype="application/pdf",
            headers={"Content-Disposition": f'inline; filename="patrol-route-{route.id}-posters.pdf"'},
        )


@blp.route("/patrol-routes/<id:route_id>/rounds")
class PatrolRounds(MethodView):
    @blp.arguments(RoundQuerySchema, location="query")
    @blp.response(200, RoundPageSchema)
    def get(self, query, route_id):
        """Who walked the route on a night (default: the current one): completed, in progress or incomplete."""
        return services.list_rounds(
            current_member(), route_id, query["night"], query["page"], query["page_size"]
        )


@blp.route("/patrols/scans")
class PatrolScans(MethodView):
    @blp.arguments(ScanRequestSchema)
    @idempotent
    @blp.response(201, ScanSchema)
    def post(self, body):
        """Scan a checkpoint (its code's text as ``payload``): in order, inside the window, not too fast;
        the last one completes the night's round and earns the route's activity once."""
        patrol = services.scan_checkpoint(current_member(), body["payload"])
        return {"patrol": patrol, "contribution": patrol.contribution}
