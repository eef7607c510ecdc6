"""The pool size the close needs to read beside its transaction is the one DB_POOL_SIZE's
description (and so docs/configuration.md) states."""

from services.scorer.closing import READERS_POOL_SIZE
from shared.settings import DatabaseSettings


def test_the_setting_states_the_pool_the_close_reads_beside_with() -> None:
    description = DatabaseSettings.model_fields["db_pool_size"].description or ""
    assert f"holds {READERS_POOL_SIZE} or more" in description
