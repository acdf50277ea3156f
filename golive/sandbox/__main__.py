"""`python -m golive.sandbox serve --dir DIR [--fault NAME ...] [--owner-pid PID]`."""

from golive.sandbox.daemon import main

raise SystemExit(main())
