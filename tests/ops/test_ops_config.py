"""The configuration file of OPERATIONS.md: defaults, one-line errors naming the key, env overrides."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from switch.config import BankConfig, Config, ConfigError, load_config, parse_config, sample_config

ALL = ["PLNPST", "PLNPRA", "PLNNTL"]
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def bank(**over) -> dict:
    return {"id": "BANKA", "mode": "connect", "address": "127.0.0.1:7100", "products": ALL, **over}


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(tomllib.loads(text), env={})
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_minimal_file_loads_with_every_documented_default(tmp_path):
    path = tmp_path / "switch.toml"
    path.write_text(sample_config(database="sqlite:///x.db", terminal_listen="127.0.0.1:7000"))
    config = load_config(str(path), env={})
    assert isinstance(config, Config)
    s, t, b = config.switch, config.terminals, config.banks[0]
    assert (s.institution_id, s.database, s.timezone, s.cutover, s.settlement_dir) == (
        "90001", "sqlite:///x.db", "Asia/Jakarta", "23:00", "settlement")
    assert (t.listen, t.idle_timeout_s, t.stall_timeout_s, t.max_frame_bytes, t.tls_cert) == (
        "127.0.0.1:7000", 300, 30, 4096, None)
    assert config.metrics.listen == "127.0.0.1:9100"
    assert b == BankConfig(id="BANKA", mode="connect", address="127.0.0.1:7100", products=tuple(ALL))
    assert (b.framing, b.timeout_s, b.reversal_retry_s, b.echo_interval_s, b.echo_misses,
            b.reconnect_max_s, b.priority, b.tls) == ("2B", 20, 30, 30, 2, 30, 1, False)
    assert config.products == () and config.product("PLNPST").agent_share == 0


def test_product_amounts_in_rupiah_are_stored_in_minor_units():
    text = sample_config(products=[{"code": "PLNPST", "agent_share": 1500, "admin_fee": 3000}])
    config = parse_config(tomllib.loads(text), env={})
    assert config.product("PLNPST").agent_share == 150_000
    assert config.product("PLNPST").admin_fee == 300_000
    assert config.product("PLNPRA").admin_fee is None


def test_the_full_example_of_operations_md_loads(tmp_path):
    text = sample_config(
        switch={"timezone": "Asia/Makassar", "cutover": "00:30", "settlement_dir": "/srv/settle"},
        terminals={"idle_timeout_s": 60, "stall_timeout_s": 2.5, "max_frame_bytes": 2048},
        banks=[bank(framing="4A", timeout_s=5, echo_misses=3, priority=2),
               bank(id="BANK_B2", mode="listen", address="0.0.0.0:0", products=["PLNPRA"],
                    tls=True, tls_cert="c.pem", tls_key="k.pem")],
    )
    config = parse_config(tomllib.loads(text), env={})
    assert config.switch.cutover == "00:30" and config.terminals.stall_timeout_s == 2.5
    assert config.bank("BANK_B2").products == ("PLNPRA",) and config.bank("BANK_B2").tls
    assert config.bank("BANKA").framing == "4A" and config.bank("BANKA").echo_misses == 3


BAD = [
    ("unknown key", sample_config(switch={"colour": "red"}), "switch.colour: unknown key"),
    ("unknown section", sample_config() + "[extras]\nx = 1\n", "extras: unknown key"),
    ("unknown bank key", sample_config(banks=[bank(colour=1)]), "banks[0].colour: unknown key"),
    ("missing institution", sample_config().replace('institution_id = "90001"\n', ""),
     "switch.institution_id: required key missing"),
    ("missing terminals.listen", sample_config().replace('listen = "127.0.0.1:7000"\n', ""),
     "terminals.listen: required key missing"),
    ("missing bank address", sample_config(banks=[{k: v for k, v in bank().items() if k != "address"}]),
     "banks[0].address: required key missing"),
    ("no banks", sample_config(banks=[]), "banks: at least one [[banks]] table is required"),
    ("bad framing", sample_config(banks=[bank(), bank(id="BANKB", framing="3B")]),
     'banks[1].framing: must be "2B" or "4A", got "3B"'),
    ("bad mode", sample_config(banks=[bank(mode="dial")]),
     'banks[0].mode: must be "connect" or "listen", got "dial"'),
    ("bad address", sample_config(terminal_listen="localhost"),
     'terminals.listen: must be "host:port", got "localhost"'),
    ("bad bank port", sample_config(banks=[bank(address="10.0.0.1:99999")]), "banks[0].address: must be"),
    ("bad cutover", sample_config(switch={"cutover": "24:00"}), "switch.cutover: must be"),
    ("bad timezone", sample_config(switch={"timezone": "Mars/Olympus"}), "switch.timezone: unknown time zone"),
    ("duplicate bank id", sample_config(banks=[bank(), bank()]), 'banks[1].id: duplicate bank id "BANKA"'),
    ("lower-case bank id", sample_config(banks=[bank(id="banka")]), "banks[0].id: must be"),
    ("unknown product", sample_config(banks=[bank(products=["PLNPST", "PDAM"])]),
     'banks[0].products[1]: unknown product "PDAM"'),
    ("no products", sample_config(banks=[bank(products=[])]), "banks[0].products: must be a non-empty list"),
    ("unknown product section", sample_config(products=[{"code": "BPJS"}]), "products[0].code: unknown product"),
    ("fractional rupiah", sample_config(products=[{"code": "PLNPST", "agent_share": 1.5}]),
     "products[0].agent_share: must be a whole number"),
    ("zero timeout", sample_config(terminals={"idle_timeout_s": 0}),
     "terminals.idle_timeout_s: must be a positive number"),
    ("zero echo misses", sample_config(banks=[bank(echo_misses=0)]), "banks[0].echo_misses: must be a whole number"),
    ("long institution", sample_config(institution_id="123456789012"), "switch.institution_id: must be"),
    ("bad database", sample_config(database="mysql://x/y"), "switch.database: must be"),
    ("tls without files", sample_config(banks=[bank(mode="listen", tls=True)]),
     "banks[0].tls_cert: required when tls = true"),
    ("terminal cert without key", sample_config(terminals={"tls_cert": "c.pem"}),
     "terminals.tls_key: required when tls_cert is given"),
    ("bank connection cap when connecting", sample_config(banks=[bank(max_connections=4)]),
     'banks[0].max_connections: only for mode = "listen"'),
    ("no bank connections", sample_config(banks=[bank(mode="listen", max_connections=0)]),
     "banks[0].max_connections: must be a whole number"),
]


@pytest.mark.parametrize("text, expected", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_each_bad_configuration_is_one_line_naming_the_key(text, expected):
    assert error_of(text).startswith(expected)


def test_ppob_database_overrides_the_file_and_ppob_config_overrides_the_path(tmp_path):
    ignored = tmp_path / "ignored.toml"
    used = tmp_path / "used.toml"
    used.write_text(sample_config(database="sqlite:///file.db", institution_id="777"))
    env = {"PPOB_CONFIG": str(used), "PPOB_DATABASE": "postgresql://u@127.0.0.1:5432/test"}
    config = load_config(str(ignored), env=env)
    assert config.switch.institution_id == "777"
    assert config.switch.database == "postgresql://u@127.0.0.1:5432/test"


def test_ppob_database_is_validated_like_the_file_value(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(sample_config())
    # named as what it is: the environment variable, not the file's switch.database (issue 11.2)
    with pytest.raises(ConfigError, match=r"^PPOB_DATABASE \(it replaces switch\.database\): must be"):
        load_config(str(path), env={"PPOB_DATABASE": "redis://x"})


def test_a_missing_file_or_bad_toml_names_the_file(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=f"^{missing}: cannot read"):
        load_config(str(missing), env={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[switch\ninstitution_id = 1\n")
    with pytest.raises(ConfigError, match=f"^{broken}: bad TOML"):
        load_config(str(broken), env={})


@pytest.mark.parametrize("path", ["config/switch.toml", "kubernetes/configmap.yaml"])
def test_the_shipped_deployment_configurations_are_valid(path):
    text = (DEPLOY / path).read_text()
    if path.endswith(".yaml"):  # the TOML is the indented block under "switch.toml: |"
        block = text.split("switch.toml: |\n", 1)[1]
        text = "\n".join(line[4:] for line in block.splitlines())
    config = parse_config(tomllib.loads(text), env={})
    assert [b.id for b in config.banks] == ["BANKA", "BANKB"]
