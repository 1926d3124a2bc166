"""Page forms of the organisers' console (Flask-WTF: every posted form carries a CSRF token)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from core.identity.forms import MobileNumber
from core.identity.models import ORG_UNIT_KINDS
from core.identity.passwords import MAX_LENGTH, MIN_LENGTH
from core.identity.views import ROLE_NAMES
from points.models import CATEGORIES
from rewards.forms import ReceiveStockForm
from rewards.schemas import MAX_UNIT_COST_FEN
from rewards.settlements import format_yuan

PHONE = MobileNumber()
#: The length rule of a password an organiser sets for a member (``core.identity.passwords``).
PASSWORD_LENGTH = Length(
    min=MIN_LENGTH,
    max=MAX_LENGTH,
    message=_l("Use %(min)d to %(max)d characters.", min=MIN_LENGTH, max=MAX_LENGTH),
)
LOCAL_TIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]

CATEGORY_NAMES = {
    "publicity": _l("Safety publicity"),
    "mediation": _l("Mediating disputes"),
    "patrol": _l("Patrols"),
    "assistance": _l("Helping residents in difficulty"),
    "volunteer_service": _l("Volunteer service"),
    "hazard_report": _l("Reporting hazards"),
    "daily_checkin": _l("Daily check-in"),
    "other": _l("Other"),
}


class ReviewForm(FlaskForm):
    """Approve or reject the ticked claims; a rejection needs a reason."""

    decision = SelectField(
        _l("Decision"),
        choices=[SelectChoice("approve", _l("Approve")), SelectChoice("reject", _l("Reject"))],
        validators=[DataRequired()],
    )
    reason = StringField(_l("Reason (needed to reject)"), validators=[Optional(), Length(max=500)])


class ActivityForm(FlaskForm):
    """Define or edit what earns points."""

    code = StringField(
        _l("Code"),
        validators=[
            DataRequired(message=_l("Enter a code.")),
            Length(max=40),
            Regexp(r"^[a-z0-9_]+$", message=_l("Use lower-case letters, digits and underscores.")),
        ],
    )
    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Enter a name.")), Length(max=100)])
    name_en = StringField(_l("English name (optional)"), validators=[Optional(), Length(max=100)])
    category = SelectField(
        _l("Category"), choices=[SelectChoice(key, CATEGORY_NAMES[key]) for key in CATEGORIES]
    )
    points = IntegerField(
        _l("Points"),
        validators=[
            InputRequired(message=_l("Enter a number.")),
            NumberRange(min=1, max=10000, message=_l("Enter a number from 1 to 10000.")),
        ],
    )
    unit = SelectField(
        _l("Per"), choices=[SelectChoice("each", _l("item")), SelectChoice("hour", _l("hour"))]
    )
    daily_cap = IntegerField(
        _l("Daily cap (optional)"),
        validators=[
            Optional(),
            NumberRange(min=1, max=100000, message=_l("Enter a number from 1 to 100000.")),
        ],
    )
    needs_review = BooleanField(_l("Members' claims need review"), default=True)
    org_unit = SelectField(_l("Applies in"), coerce=str)
    starts_at = DateTimeLocalField(_l("From (optional)"), format=LOCAL_TIME_FORMATS, validators=[Optional()])
    ends_at = DateTimeLocalField(_l("Until (optional)"), format=LOCAL_TIME_FORMATS, validators=[Optional()])


class EventForm(FlaskForm):
    """Schedule an event with a check-in code."""

    title = StringField(_l("Title"), validators=[DataRequired(message=_l("Enter a title.")), Length(max=100)])
    activity = SelectField(_l("Activity"), validators=[DataRequired(message=_l("Choose an activity."))])
    org_unit = SelectField(_l("Where"), validators=[DataRequired(message=_l("Choose where."))])
    starts_at = DateTimeLocalField(
        _l("Starts"),
        format=LOCAL_TIME_FORMATS,
        validators=[InputRequired(message=_l("Enter the date and time."))],
    )
    ends_at = DateTimeLocalField(
        _l("Ends"),
        format=LOCAL_TIME_FORMATS,
        validators=[InputRequired(message=_l("Enter the date and time."))],
    )


class MemberForm(FlaskForm):
    """A member's name, phone and grid (the password only when creating)."""

    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Enter a name.")), Length(max=50)])
    phone = StringField(
        _l("Phone number"), validators=[DataRequired(message=_l("Enter a phone number.")), PHONE]
    )
    org_unit = SelectField(_l("Grid"), validators=[DataRequired(message=_l("Choose a grid."))])


class NewMemberForm(MemberForm):
    """Create a member with a first password."""

    password = PasswordField(_l("First password"), validators=[DataRequired(), PASSWORD_LENGTH])


class ResetPasswordForm(FlaskForm):
    """Set a new password for a member (their sessions end)."""

    password = PasswordField(_l("New password"), validators=[DataRequired(), PASSWORD_LENGTH])


class StatusForm(FlaskForm):
    """Suspend a member, or let them back in."""

    status = SelectField(
        choices=[SelectChoice("suspended", _l("Suspend")), SelectChoice("active", _l("Unsuspend"))]
    )


class GrantRoleForm(FlaskForm):
    """Grant a role on an org unit, or clerk at a supermarket."""

    role = SelectField(_l("Role"), choices=[SelectChoice(role, name) for role, name in ROLE_NAMES.items()])
    target = SelectField(_l("On"), validators=[DataRequired(message=_l("Choose where."))])


class RevokeRoleForm(FlaskForm):
    """Revoke a role, with an optional reason."""

    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])


class AuditFilterForm(FlaskForm):
    """Filter the audit log (a GET form: nothing changes, so no CSRF token)."""

    class Meta:
        csrf = False

    who = StringField(_l("Who (name or phone)"), validators=[Optional(), Length(max=50)])
    action = StringField(_l("Action"), validators=[Optional(), Length(max=60)])
    subject_type = StringField(_l("Subject type"), validators=[Optional(), Length(max=40)])
    subject_id = IntegerField(_l("Subject id"), validators=[Optional()])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("Until"), validators=[Optional()])


class ReceiveRewardForm(ReceiveStockForm):
    """Units of a chosen reward received at the supermarket (any reward of the catalogue)."""

    reward = SelectField(_l("Reward"), validators=[DataRequired(message=_l("Choose a reward."))])


class YuanField(DecimalField):
    """An amount typed in yuan with at most two decimals, kept in fen (分)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("render_kw", {"inputmode": "decimal"})  # a phone's keyboard with the point
        super().__init__(*args, **kwargs)

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return format_yuan(self.data) if isinstance(self.data, int) else ""

    def process_formdata(self, valuelist) -> None:
        super().process_formdata(valuelist)
        if self.data is not None:
            fen = self.data * 100
            if fen != fen.to_integral_value():
                self.data = None
                raise ValueError(str(_l("Give yuan with at most two decimals.")))
            self.data = int(fen)


class RewardForm(FlaskForm):
    """A reward of the catalogue: its names and description, its prices, whether it is offered."""

    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Enter a name.")), Length(max=100)])
    name_en = StringField(_l("English name (optional)"), validators=[Optional(), Length(max=100)])
    description = TextAreaField(_l("Description (optional)"), validators=[Optional(), Length(max=2000)])
    points_cost = IntegerField(
        _l("Price in points"),
        validators=[
            InputRequired(message=_l("Enter a number.")),
            NumberRange(min=1, max=1000000, message=_l("Enter a number from 1 to 1000000.")),
        ],
    )
    per_member_limit = IntegerField(
        _l("Most units one member may take a month (optional)"),
        validators=[Optional(), NumberRange(min=1, max=10000, message=_l("Enter a number from 1 to 10000."))],
    )
    unit_cost_fen = YuanField(
        _l("Unit cost in yuan: what the county pays the supermarket for one (optional)"),
        places=2,
        validators=[
            Optional(),
            NumberRange(min=0, max=MAX_UNIT_COST_FEN, message=_l("Enter an amount from 0 to 100000 yuan.")),
        ],
    )
    active = BooleanField(_l("Offered (untick to retire it)"), default=True)
    #: The fields of the price, shown together on the form.
    PRICE_FIELDS = ("points_cost", "per_member_limit", "unit_cost_fen")


class RewardPictureForm(FlaskForm):
    """A new picture for a reward (JPEG or PNG up to 5 MB)."""

    image = FileField(_l("Picture (JPEG or PNG, up to 5 MB)"))


class SupermarketForm(FlaskForm):
    """A safety supermarket: its name, where it belongs, its address and opening hours."""

    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Enter a name.")), Length(max=100)])
    org_unit = SelectField(_l("Belongs to"), validators=[DataRequired(message=_l("Choose where."))])
    address = StringField(
        _l("Address"), validators=[DataRequired(message=_l("Enter the address.")), Length(max=255)]
    )
    opening_hours = StringField(_l("Opening hours (optional)"), validators=[Optional(), Length(max=100)])


ORG_UNIT_KIND_NAMES = {
    "county": _l("County"),
    "town": _l("Town or street"),
    "community": _l("Community or village"),
    "grid": _l("Grid"),
}


class OrgUnitForm(FlaskForm):
    """An org unit: its name, its kind (when new) and the unit above it."""

    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Enter a name.")), Length(max=100)])
    kind = SelectField(
        _l("Kind"), choices=[SelectChoice(kind, ORG_UNIT_KIND_NAMES[kind]) for kind in ORG_UNIT_KINDS]
    )
    parent = SelectField(_l("Under"), coerce=str)


class ResolveConflictForm(FlaskForm):
    """What was done about an offline conflict."""

    note = StringField(
        _l("What was done"),
        validators=[DataRequired(message=_l("Say what was done about it.")), Length(max=1000)],
    )


class PublishNoticeForm(FlaskForm):
    """Publish a finished month's public notice (积分公示) for an org unit."""

    org_unit = SelectField(_l("For"), validators=[DataRequired(message=_l("Choose where."))])
    month = SelectField(_l("Month"), validators=[DataRequired(message=_l("Choose a month."))])


class DecideObjectionForm(FlaskForm):
    """Uphold an objection (the points are taken back) or dismiss it, with a reason."""

    decision = SelectField(
        _l("Decision"),
        choices=[
            SelectChoice("dismiss", _l("Dismiss: the points stand")),
            SelectChoice("uphold", _l("Uphold: take the points back")),
        ],
    )
    reason = StringField(
        _l("Reason"), validators=[DataRequired(message=_l("Give a reason.")), Length(max=500)]
    )


class DecideFlagForm(FlaskForm):
    """Dismiss a fairness flag, or say what was done about it, with a reason."""

    decision = SelectField(
        _l("Decision"),
        choices=[
            SelectChoice("dismiss", _l("Dismiss: nothing wrong")),
            SelectChoice("act", _l("Acted on: say what was done")),
        ],
    )
    reason = StringField(
        _l("Reason"), validators=[DataRequired(message=_l("Give a reason.")), Length(max=500)]
    )


class BudgetForm(FlaskForm):
    """An org unit's points budget for a year."""

    org_unit = SelectField(_l("Org unit"), validators=[DataRequired(message=_l("Choose where."))])
    year = IntegerField(
        _l("Year"),
        validators=[
            InputRequired(message=_l("Enter a year.")),
            NumberRange(min=2000, max=2100, message=_l("Enter a year from 2000 to 2100.")),
        ],
    )
    points = IntegerField(
        _l("Points the subtree may be awarded in the year"),
        validators=[
            InputRequired(message=_l("Enter a number.")),
            NumberRange(min=0, max=2000000000, message=_l("Enter a number from 0 to 2000000000.")),
        ],
    )


class ConfirmSettlementForm(FlaskForm):
    """Confirm a finished month of a supermarket (nothing to fill in: the button)."""
