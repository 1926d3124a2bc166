"""Page forms of identity (Flask-WTF: every form carries a CSRF token)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp, ValidationError

from core.identity.passwords import MAX_LENGTH, MIN_LENGTH
from core.identity.phones import normalise_phone


class MobileNumber:
    """A mainland mobile number as people type it; the field keeps its canonical 11 digits."""

    def __init__(self, message=None):
        self.message = message or _l("Enter an 11-digit mobile number.")

    def __call__(self, form, field):
        phone = normalise_phone(field.data or "")
        if phone is None:
            raise ValidationError(self.message)
        field.data = phone


def new_password_field(label) -> PasswordField:
    """A password being set: required, of the length the password rules allow."""
    return PasswordField(
        label,
        validators=[
            DataRequired(),
            Length(
                min=MIN_LENGTH,
                max=MAX_LENGTH,
                message=_l("Use %(min)d to %(max)d characters.", min=MIN_LENGTH, max=MAX_LENGTH),
            ),
        ],
    )


def password_again_field() -> PasswordField:
    """The new password typed again, which must equal the form's ``new_password``."""
    return PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("new_password", message=_l("The two new passwords differ."))],
    )


class SignInForm(FlaskForm):
    """Sign in with a phone number and password."""

    phone = StringField(_l("Phone number"), validators=[DataRequired(), MobileNumber()])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=MAX_LENGTH)])


class ChangePasswordForm(FlaskForm):
    """Change one's own password."""

    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = new_password_field(_l("New password"))
    confirm = password_again_field()


class ActivateForm(FlaskForm):
    """Set one's first password with the activation code from the printed slip."""

    phone = StringField(_l("Phone number"), validators=[DataRequired(), MobileNumber()])
    code = StringField(_l("Activation code"), validators=[DataRequired(), Length(max=20)])
    new_password = new_password_field(_l("New password"))
    confirm = password_again_field()


class PinForm(FlaskForm):
    """A member's new 6-digit counter PIN, typed by the resident (in front of an organiser, or on their own phone)."""

    pin = PasswordField(
        _l("New PIN (6 digits)"), validators=[DataRequired(), Regexp(r"^\d{6}$", message=_l("Six digits."))]
    )


class OwnPinForm(PinForm):
    """One's own counter PIN: the password proves it is really the member."""

    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=MAX_LENGTH)])
