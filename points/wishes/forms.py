"""Page forms of micro-wishes (Flask-WTF: every form carries a CSRF token)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, RadioField, SelectChoice, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, Optional


class PhotoFields:
    """An optional photo, and the one kept from a refused attempt (the browser cannot keep the file)."""

    photo = FileField(_l("Photo (optional)"))
    photo_id = HiddenField()


class WishForm(PhotoFields, FlaskForm):
    """Post a wish: what is needed, in a few words and in more."""

    title = StringField(
        _l("What do you need?"),
        validators=[DataRequired(message=_l("Say in a few words what you need.")), Length(max=100)],
    )
    description = TextAreaField(
        _l("Tell us more: where, when, anything a helper should know"),
        validators=[DataRequired(message=_l("Tell a helper a little more.")), Length(max=1000)],
    )


class DoneForm(PhotoFields, FlaskForm):
    """Say a wish is done, with a note or a photo."""

    note = TextAreaField(_l("What did you do?"), validators=[Optional(), Length(max=1000)])


class ConfirmForm(FlaskForm):
    """Confirm a done wish with a rating of the help."""

    rating = RadioField(
        _l("How was the help?"),
        coerce=int,
        default=5,
        choices=[
            SelectChoice(5, _l("5 · Excellent")),
            SelectChoice(4, _l("4 · Good")),
            SelectChoice(3, _l("3 · All right")),
            SelectChoice(2, _l("2 · Poor")),
            SelectChoice(1, _l("1 · Bad")),
        ],
        validators=[InputRequired(message=_l("Choose a rating."))],
    )


class CancelForm(FlaskForm):
    """Cancel a wish, saying why."""

    reason = StringField(
        _l("Why cancel it?"),
        validators=[DataRequired(message=_l("Say why it is cancelled.")), Length(max=500)],
    )


class VetForm(FlaskForm):
    """Accept or decline a submitted wish (declining needs a reason)."""

    decision = HiddenField(validators=[AnyOf(("accept", "decline"))])
    reason = StringField(_l("Reason (needed to decline)"), validators=[Optional(), Length(max=500)])
