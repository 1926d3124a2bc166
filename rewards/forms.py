"""Page forms of the rewards package (Flask-WTF: every form carries a CSRF token)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

#: Longer texts are no code of ours (core.qr.signing refuses them too).
MAX_CODE_LENGTH = 1000


class ScanForm(FlaskForm):
    """A resident's code typed at the counter: the short code, or what the QR code holds."""

    code = StringField(
        _l("Short code"),
        validators=[
            DataRequired(message=_l("Enter the short code under the resident's QR code.")),
            Length(max=MAX_CODE_LENGTH),
        ],
    )


class FulfilForm(FlaskForm):
    """Hand over a voucher's goods: the resident's code travels with the button."""

    code = HiddenField(validators=[DataRequired(), Length(max=MAX_CODE_LENGTH)])


class ReceiveStockForm(FlaskForm):
    """Units of one reward received at the supermarket."""

    quantity = IntegerField(
        _l("Units received"),
        validators=[
            InputRequired(message=_l("Enter a number.")),
            NumberRange(min=1, max=100000, message=_l("Enter a number from 1 to 100000.")),
        ],
    )


class CorrectStockForm(FlaskForm):
    """A stocktake: the units counted on the shelf, and why the count changes."""

    quantity = IntegerField(
        _l("Units counted"),
        validators=[
            InputRequired(message=_l("Enter a number.")),
            NumberRange(min=0, max=100000, message=_l("Enter a number from 0 to 100000.")),
        ],
    )
    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(message=_l("Give a reason for the correction.")), Length(max=500)],
    )
