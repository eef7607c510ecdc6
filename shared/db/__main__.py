"""`python -m shared.db`: apply the migrations (see shared.db.migrate)."""

from shared.db.migrate import main

main()
