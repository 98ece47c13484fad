"""Registry: the name -> object table behind every word a suite may use."""

import pytest

from harness.core.errors import ConfigError
from harness.core.registry import Registry


@pytest.fixture
def widgets() -> Registry:
    reg: Registry = Registry("widget")
    for name in ("spanner", "anvil", "lever"):
        reg.register(name)(object())
    return reg


def test_register_returns_the_object_and_get_finds_it():
    reg: Registry = Registry("widget")

    @reg.register("gear")
    class Gear:
        pass

    assert Gear.__name__ == "Gear"  # the decorator hands the class back unchanged
    assert reg.get("gear") is Gear
    assert "gear" in reg
    assert "cog" not in reg


def test_names_are_sorted_and_iteration_follows_them(widgets):
    assert widgets.names() == ["anvil", "lever", "spanner"]
    assert list(widgets) == ["anvil", "lever", "spanner"]


def test_registering_a_name_twice_raises_and_keeps_the_first(widgets):
    first = widgets.get("anvil")
    with pytest.raises(ValueError, match="anvil"):
        widgets.register("anvil")(object())
    assert widgets.get("anvil") is first


@pytest.mark.parametrize("where", ["", "matrix.arch"])
def test_unknown_name_raises_config_error_listing_valid_names(widgets, where):
    with pytest.raises(ConfigError) as err:
        widgets.get("hammer", where)
    msg = str(err.value)
    assert "widget" in msg and "'hammer'" in msg
    assert "anvil, lever, spanner" in msg
    assert msg.startswith(f"{where}: ") == bool(where)
    assert err.value.exit_code == 2
