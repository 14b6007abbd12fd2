"""Where ``greeter.errors`` lived until it became public: an alias, to be deleted.

Kept only so code written against the old private path in the meantime (branches in
flight) still imports; nothing in greeter imports it. Import ``greeter.errors``.
"""

from greeter.errors import *  # noqa: F403
from greeter.errors import RICH_STATUS_KEY, error_for_status, error_from_grpc
from greeter.errors import __all__ as __all__

__all__ += ["RICH_STATUS_KEY", "error_for_status", "error_from_grpc"]
