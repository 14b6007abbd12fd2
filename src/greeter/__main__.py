"""``python -m greeter``: the same as the ``greeter`` command."""

from greeter._cli import main

raise SystemExit(main())
