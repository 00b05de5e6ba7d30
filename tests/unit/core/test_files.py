"""Rendered paths, owners and modes (``so_telemetry_core.files``)."""


import pytest
import so_telemetry_core as core
from salt.exceptions import CommandExecutionError



# --------------------------------------------------------------------------
# small helpers of the engine


@pytest.mark.parametrize("mode,expected", [("0600", 0o600), ("644", 0o644), ("0640", 0o640), (400, 0o400)],
                         ids=repr)
def test_file_mode(ctx, pillar, mode, expected):
    pillar["soc"] = {"file_mode": mode}
    assert core.files.file_mode(ctx(), "soc") == expected


@pytest.mark.parametrize("text,expected", [("0600", 0o600), ("644", 0o644), ("0640", 0o640)])
def test_file_mode_unquoted_yaml(ctx, pillar, text, expected):
    import salt.utils.yaml  # pylint: disable=import-outside-toplevel

    pillar["soc"] = {"file_mode": salt.utils.yaml.safe_load(f"m: {text}")["m"]}
    assert core.files.file_mode(ctx(), "soc") == expected


@pytest.mark.parametrize("mode", ["0999", "rw-------", None, "06000", True], ids=repr)
def test_file_mode_invalid(ctx, pillar, mode):
    pillar["soc"] = {"file_mode": mode}
    with pytest.raises(CommandExecutionError, match="soc:file_mode"):
        core.files.file_mode(ctx(), "soc")


@pytest.mark.parametrize("bad", ["relative/path", "", None], ids=repr)
def test_path_must_be_absolute(ctx, bad):
    with pytest.raises(CommandExecutionError):
        core.files.rendered_path(ctx(), bad)
