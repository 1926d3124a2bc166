"""Console forms for micro-wishes and patrol routes (Flask-WTF: every posted form carries a CSRF token)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField, TimeField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from admin.forms import LOCAL_TIME_FORMATS
from points.patrols.services import MAX_CHECKPOINTS, MAX_MINUTES_BETWEEN, MIN_CHECKPOINTS
from points.wishes.schemas import MAX_POINTS


class PublishWishForm(FlaskForm):
    """Publish a vetted wish: the points its volunteer earns and when it must be done by."""

    points = IntegerField(
        _l("Points for the volunteer"),
        validators=[
            InputRequired(message=_l("Enter a number.")),
            NumberRange(
                min=1, max=MAX_POINTS, message=_l("Enter a number from 1 to %(max)d.", max=MAX_POINTS)
            ),
        ],
    )
    due_at = DateTimeLocalField(
        _l("Do it by"),
        format=LOCAL_TIME_FORMATS,
        validators=[InputRequired(message=_l("Enter the date and time."))],
    )


class PatrolRouteForm(FlaskForm):
    """Draw a patrol route: its checkpoints in order, the nightly window and the pace."""

    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Enter a name.")), Length(max=100)])
    org_unit = SelectField(_l("Where"), validators=[DataRequired(message=_l("Choose where."))])
    activity = SelectField(
        _l("Activity a complete round earns"), validators=[DataRequired(message=_l("Choose an activity."))]
    )
    checkpoints = TextAreaField(
        _l("Checkpoints, one a line, in the order they are walked"),
        validators=[DataRequired(message=_l("Name the checkpoints.")), Length(max=MAX_CHECKPOINTS * 101)],
    )
    window_start = TimeField(_l("Patrol from"), validators=[InputRequired(message=_l("Enter a time."))])
    window_end = TimeField(
        _l("Patrol until (may be after midnight)"), validators=[InputRequired(message=_l("Enter a time."))]
    )
    min_minutes_between = IntegerField(
        _l("Least minutes between two checkpoints"),
        default=5,
        validators=[
            InputRequired(message=_l("Enter a number.")),
            NumberRange(
                min=0,
                max=MAX_MINUTES_BETWEEN,
                message=_l("Enter a number from 0 to %(max)d.", max=MAX_MINUTES_BETWEEN),
            ),
        ],
    )

    def checkpoint_names(self) -> list[str]:
        """The checkpoints typed, one a line, blank lines left out."""
        return [line.strip() for line in (self.checkpoints.data or "").splitlines() if line.strip()]

    #: Shown under the checkpoints field.
    CHECKPOINT_HINT = _l(
        "From %(min)d to %(max)d checkpoints; each gets its own printed QR code.",
        min=MIN_CHECKPOINTS,
        max=MAX_CHECKPOINTS,
    )
