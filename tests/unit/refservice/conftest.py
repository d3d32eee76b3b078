from tests.support.audit_checkpoints import ledger  # noqa: F401 - a fixture: a reference ledger, signed checkpoints
from tests.support.db_paths import service  # noqa: F401 - a fixture: the service on a SQLite file, in process
from tests.support.refservice import world  # noqa: F401 - a fixture: the service with every domain on, in process
