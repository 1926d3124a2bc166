"""Page forms of the points package (Flask-WTF: every form carries a CSRF token)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateTimeLocalField, DecimalField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional


class ClaimForm(FlaskForm):
    """Claim a contribution of one's own, with an optional photo as evidence."""

    activity = SelectField(_l("Activity"), validators=[DataRequired(message=_l("Choose an activity."))])
    quantity = DecimalField(
        _l("Quantity (items or hours)"),
        places=1,
        validators=[
            InputRequired(message=_l("Enter a number.")),
            NumberRange(min=0.5, max=1000, message=_l("Enter a number from 0.5 to 1000.")),
        ],
    )
    occurred_at = DateTimeLocalField(
        _l("When"),
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[InputRequired(message=_l("Enter the date and time."))],
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=1000)])
    photo = FileField(_l("Photo (optional)"))
    #: A photo already stored by an earlier, refused attempt: the browser cannot keep the file.
    photo_id = HiddenField()


class RejectForm(FlaskForm):
    """Reject a pending claim with a reason."""

    reason = StringField(
        _l("Reason"), validators=[DataRequired(message=_l("Give a reason to reject.")), Length(max=500)]
    )


class ObjectionForm(FlaskForm):
    """Object to one entry of an open public notice, with a reason."""

    reason = TextAreaField(
        _l("Why do you object?"),
        validators=[DataRequired(message=_l("Say why you object.")), Length(max=500)],
    )
