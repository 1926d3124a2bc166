"""Extension objects, created unbound; ``create_app`` binds them.

The API (flask-smorest) and the security headers (Talisman) keep per-app state
on themselves, so ``create_app`` makes one of each per application instead.
"""

from flask_babel import Babel
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from core.database import Base, RoutedSession

#: Objects stay readable after a commit (no reload per attribute while a response is dumped);
#: services that need fresh rows read them again under a lock (``populate_existing``). The
#: session sends the reads of views marked ``@reads_replica`` to the replica (``core.replica``).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False, "class_": RoutedSession})
migrate = Migrate()
babel = Babel()
csrf = CSRFProtect()
