"""Identity endpoints: tokens, me, org units, members, roles, supermarkets."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from core.api import PageQuerySchema, page_schema
from core.errors import AppError
from core.identity import services
from core.identity.activation import activate_member
from core.identity.auth import current_member, current_token
from core.identity.schemas import (
    ActivateSchema,
    ChangePasswordSchema,
    CreateMemberSchema,
    CreateOrgUnitSchema,
    CreateSupermarketSchema,
    GrantRoleSchema,
    MemberQuerySchema,
    MemberSchema,
    MeSchema,
    OrgUnitQuerySchema,
    OrgUnitSchema,
    ResetPasswordSchema,
    RevokeRoleQuerySchema,
    RoleGrantSchema,
    SignInSchema,
    SupermarketSchema,
    TokenSchema,
    UpdateMemberSchema,
    UpdateMeSchema,
    UpdateOrgUnitSchema,
)

blp = Blueprint(
    "identity",
    __name__,
    url_prefix="/api/v1",
    description="Sign-in, members, org units, roles and supermarkets",
)


@blp.route("/auth/tokens")
class Tokens(MethodView):
    @blp.arguments(SignInSchema)
    @blp.response(201, TokenSchema)
    def post(self, body):
        """Sign in: exchange a phone number and password for a bearer token.

        Failed sign-ins and activations count per phone number, page and API alike: five in
        15 minutes lock the number for 15 minutes (429 ``rate_limited`` with Retry-After).
        """
        return _token_for(services.authenticate(body["phone"], body["password"]))


def _token_for(member) -> dict:
    """Issue a bearer token for a member who just proved who they are."""
    ttl = timedelta(days=current_app.config["TOKEN_TTL_DAYS"])
    token, row = services.issue_token(member, ttl)
    return {"token": token, "expires_at": row.expires_at, "member": member}


@blp.route("/auth/activate")
class Activate(MethodView):
    @blp.arguments(ActivateSchema)
    @blp.response(201, TokenSchema)
    def post(self, body):
        """Activate an imported member: set the first password with the slip's code; answer a token."""
        member = activate_member(body["phone"], body["code"], body["password"])
        return _token_for(member)


@blp.route("/auth/tokens/current")
class CurrentToken(MethodView):
    @blp.response(204)
    def delete(self):
        """Sign out: revoke the token this request carries."""
        current_member()
        token = current_token()
        if token is None:
            raise AppError(401, message="Sign out with the bearer token to revoke.")
        services.revoke_token(token)


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, MeSchema)
    def get(self):
        """Show the signed-in member with roles, balances, level, stars and badges."""
        return current_member()

    @blp.arguments(UpdateMeSchema)
    @blp.response(200, MeSchema)
    def patch(self, body):
        """Change one's own choices (appear anonymously on boards)."""
        return services.update_own_profile(current_member(), body)


@blp.route("/me/password")
class MyPassword(MethodView):
    @blp.arguments(ChangePasswordSchema)
    @blp.response(204)
    def post(self, body):
        """Change one's own password; every other session and token ends."""
        services.change_own_password(current_member(), body["current_password"], body["new_password"])


@blp.route("/org-units")
class OrgUnits(MethodView):
    @blp.arguments(OrgUnitQuerySchema, location="query")
    @blp.response(200, page_schema(OrgUnitSchema))
    def get(self, query):
        """List the children of an org unit (the roots without ``parent_id``)."""
        return services.list_org_units(
            current_member(), query["parent_id"], query["page"], query["page_size"]
        )

    @blp.arguments(CreateOrgUnitSchema)
    @blp.response(201, OrgUnitSchema)
    def post(self, body):
        """Add an org unit (admins in scope; a root only for global admins)."""
        return services.create_org_unit(current_member(), body["name"], body["kind"], body["parent_id"])


@blp.route("/org-units/<id:unit_id>")
class OrgUnitItem(MethodView):
    @blp.response(200, OrgUnitSchema)
    def get(self, unit_id):
        """Show one org unit."""
        current_member()
        return services.get_org_unit(unit_id, "unit_id")

    @blp.arguments(UpdateOrgUnitSchema)
    @blp.response(200, OrgUnitSchema)
    def patch(self, body, unit_id):
        """Rename an org unit, or move it with its subtree under another parent."""
        actor = current_member()
        unit = services.get_org_unit(unit_id, "unit_id")
        return services.update_org_unit(
            actor, unit, name=body.get("name"), parent_id=body.get("parent_id"), move="parent_id" in body
        )


@blp.route("/members")
class Members(MethodView):
    @blp.arguments(MemberQuerySchema, location="query")
    @blp.response(200, page_schema(MemberSchema))
    def get(self, query):
        """List members in one's scope, optionally within an org unit or matching a name or phone."""
        return services.list_members(
            current_member(),
            org_unit_id=query["org_unit_id"],
            query=query["q"],
            page=query["page"],
            page_size=query["page_size"],
        )

    @blp.arguments(CreateMemberSchema)
    @blp.response(201, MemberSchema)
    def post(self, body):
        """Create a member in a grid of one's scope."""
        return services.create_member(
            current_member(), body["name"], body["phone"], body["password"], body["org_unit_id"]
        )


@blp.route("/members/<id:member_id>")
class MemberItem(MethodView):
    @blp.response(200, MemberSchema)
    def get(self, member_id):
        """Show a member: oneself, or someone in one's scope."""
        actor = current_member()
        return services.read_member(actor, services.get_member(member_id, "member_id"))

    @blp.arguments(UpdateMemberSchema)
    @blp.response(200, MemberSchema)
    def patch(self, body, member_id):
        """Change a member's name, phone, grid, suspension or hidden flag."""
        actor = current_member()
        return services.update_member(actor, services.get_member(member_id, "member_id"), body)


@blp.route("/members/<id:member_id>/password")
class MemberPassword(MethodView):
    @blp.arguments(ResetPasswordSchema)
    @blp.response(204)
    def post(self, body, member_id):
        """Reset a member's password (organisers in scope); their sessions end."""
        actor = current_member()
        services.reset_password(actor, services.get_member(member_id, "member_id"), body["password"])


@blp.route("/members/<id:member_id>/unlock")
class MemberUnlock(MethodView):
    @blp.response(204)
    def post(self, member_id):
        """Lift the lock that failed sign-ins put on a member's phone number (organisers who outrank them)."""
        actor = current_member()
        services.unlock_sign_in(actor, services.get_member(member_id, "member_id"))


@blp.route("/members/<id:member_id>/roles")
class MemberRoles(MethodView):
    @blp.response(200, RoleGrantSchema(many=True))
    def get(self, member_id):
        """List a member's active roles."""
        actor = current_member()
        return services.list_grants(actor, services.get_member(member_id, "member_id"))

    @blp.arguments(GrantRoleSchema)
    @blp.response(201, RoleGrantSchema)
    def post(self, body, member_id):
        """Grant a role on an org unit's subtree, or clerk at a supermarket (admins)."""
        actor = current_member()
        return services.grant_role(
            actor,
            services.get_member(member_id, "member_id"),
            body["role"],
            body["org_unit_id"],
            body["supermarket_id"],
        )


@blp.route("/members/<id:member_id>/roles/<id:grant_id>")
class MemberRoleItem(MethodView):
    @blp.arguments(RevokeRoleQuerySchema, location="query")
    @blp.response(204)
    def delete(self, query, member_id, grant_id):
        """Revoke one of a member's roles (admins in scope)."""
        actor = current_member()
        services.revoke_role(actor, services.get_member(member_id, "member_id"), grant_id, query["reason"])


@blp.route("/supermarkets")
class Supermarkets(MethodView):
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, page_schema(SupermarketSchema))
    def get(self, query):
        """List the safety supermarkets."""
        current_member()
        return services.list_supermarkets(query["page"], query["page_size"])

    @blp.arguments(CreateSupermarketSchema)
    @blp.response(201, SupermarketSchema)
    def post(self, body):
        """Open a safety supermarket (admins in scope)."""
        return services.create_supermarket(
            current_member(), body["name"], body["org_unit_id"], body["address"], body["opening_hours"]
        )


@blp.route("/supermarkets/<id:supermarket_id>")
class SupermarketItem(MethodView):
    @blp.response(200, SupermarketSchema)
    def get(self, supermarket_id):
        """Show one supermarket."""
        current_member()
        return services.get_supermarket(supermarket_id, "supermarket_id")
