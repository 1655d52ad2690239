"""Database passwords never reach an error line: URLs are printed with the password replaced."""
from __future__ import annotations

import pytest

from switch.config import ConfigError, mask_credentials, parse_config
from switch.ledger.storage import open_database


@pytest.mark.parametrize("url, shown", [
    ("postgresql://ppob:s3cret@db:5432/ppob", "postgresql://ppob:***@db:5432/ppob"),
    ("postgresql://ppob:p@ss@db/ppob", "postgresql://ppob:***@db/ppob"),
    ("postgresql://ppob@db/ppob?password=s3cret", "postgresql://ppob@db/ppob?password=***"),
    ("postgresql://db/ppob", "postgresql://db/ppob"),
    ("sqlite:///var/lib/ppob/switch.db", "sqlite:///var/lib/ppob/switch.db"),
])
def test_a_url_is_shown_without_its_password(url, shown):
    assert mask_credentials(url) == shown


def test_a_bad_database_url_in_the_configuration_is_named_without_its_password():
    with pytest.raises(ConfigError) as refused:
        parse_config({"switch": {"institution_id": "1234", "database": "mysql://ppob:s3cret@db/ppob"},
                      "terminals": {"listen": "127.0.0.1:0"}, "banks": []}, env={})
    assert "switch.database" in str(refused.value) and "s3cret" not in str(refused.value)


def test_an_unsupported_url_is_refused_without_its_password():
    with pytest.raises(ValueError) as refused:
        open_database("mysql://ppob:s3cret@db/ppob")
    assert "s3cret" not in str(refused.value) and "***" in str(refused.value)
