"""Page forms of identity (Flask-WTF: every form carries a CSRF token)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from core.identity.passwords import MAX_LENGTH, MIN_LENGTH


class SignInForm(FlaskForm):
    """Sign in with a phone number and password."""

    phone = StringField(_l("Phone number"), validators=[
        DataRequired(), Regexp(r"^1[3-9]\d{9}$", message=_l("Enter an 11-digit mobile number."))])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=MAX_LENGTH)])


class ChangePasswordForm(FlaskForm):
    """Change one's own password."""

    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(_l("New password"), validators=[
        DataRequired(), Length(min=MIN_LENGTH, max=MAX_LENGTH,
                               message=_l("Use %(min)d to %(max)d characters.", min=MIN_LENGTH, max=MAX_LENGTH))])
    confirm = PasswordField(_l("New password again"), validators=[
        DataRequired(), EqualTo("new_password", message=_l("The two new passwords differ."))])


class ActivateForm(FlaskForm):
    """Set one's first password with the activation code from the printed slip."""

    phone = StringField(_l("Phone number"), validators=[
        DataRequired(), Regexp(r"^1[3-9]\d{9}$", message=_l("Enter an 11-digit mobile number."))])
    code = StringField(_l("Activation code"), validators=[DataRequired(), Length(max=20)])
    new_password = PasswordField(_l("New password"), validators=[
        DataRequired(), Length(min=MIN_LENGTH, max=MAX_LENGTH,
                               message=_l("Use %(min)d to %(max)d characters.", min=MIN_LENGTH, max=MAX_LENGTH))])
    confirm = PasswordField(_l("New password again"), validators=[
        DataRequired(), EqualTo("new_password", message=_l("The two new passwords differ."))])
