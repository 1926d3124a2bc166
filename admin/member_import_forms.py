"""Forms of the roll import pages (Flask-WTF: every posted form carries a CSRF token)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired

from admin.forms import PHONE


class RollUploadForm(FlaskForm):
    """Choose a roll (CSV or XLSX) to check."""

    roll = FileField(
        _l("Roll file (CSV or XLSX, up to 20 MB)"), validators=[FileRequired(message=_l("Choose a file."))]
    )


class RollConfirmForm(RollUploadForm):
    """Choose the checked file again to import it; ``checked`` proves which file was checked."""

    checked = HiddenField(validators=[DataRequired()])


class ReissueCodeForm(FlaskForm):
    """Give one member a new activation code (the old one stops working)."""

    phone = StringField(_l("Phone number"), validators=[DataRequired(), PHONE])
