"""A stage's settings: one frozen dataclass per stage, its fields the config keys of one schema section.

A settings class derives from :class:`StageSettings` and names its section in ``SECTION``
(``"head"``, ``"invariance.network"``); each field is the config key ``<SECTION>.<field>`` unless
its metadata says otherwise, in one of two explicit ways:

- :func:`config_field` (``size: int = config_field("invariance.image_size")``): the value of another
  config key; its option is still named after the field (``--size``);
- :func:`given_field`: not a config value; the script passes it (threads from the job, a crop size
  it already has as another option).

Everything else follows from the fields: a rule's params (:meth:`StageSettings.params`: every config
field's value, lists as lists, so the keys are written once), a script's options with the schema's
types, defaults, help and allowed values (``poolkit.cli.add_settings_options``), and the object a
script builds from them (``poolkit.cli.settings_from_args``). This module needs no argparse: the model
modules define their settings without the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

_CONFIG_KEY = "poolkit.config_key"
_GIVEN = "poolkit.given"


def config_field(key: str) -> Any:
    """A field holding the value of config key ``key`` (dotted), outside the class's section or
    under another name."""
    return field(metadata={_CONFIG_KEY: key})


def given_field(**kwargs: Any) -> Any:
    """A field that is not a config value: the script passes it (``kwargs`` as for
    :func:`dataclasses.field`, e.g. a default)."""
    return field(metadata={_GIVEN: True}, **kwargs)


def config_value(config: Mapping[str, Any], key: str) -> Any:
    """The value of a dotted config key (``invariance.network.seed``) in a validated config."""
    value: Any = config
    for part in key.split("."):
        value = value[part]
    return value


@dataclass(frozen=True, kw_only=True)
class StageSettings:
    """The base of every stage's settings (see the module's docstring)."""

    #: The config section whose keys the fields are (dotted).
    SECTION: ClassVar[str]

    @classmethod
    def config_keys(cls) -> dict[str, str]:
        """Each field taken from the config and its dotted config key, in field order."""
        return {
            f.name: f.metadata.get(_CONFIG_KEY, f"{cls.SECTION}.{f.name}")
            for f in fields(cls)
            if not f.metadata.get(_GIVEN)
        }

    @classmethod
    def given_fields(cls) -> list[str]:
        """The fields a script passes itself (not config values)."""
        return [f.name for f in fields(cls) if f.metadata.get(_GIVEN)]

    @classmethod
    def params(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """A rule's params: every config field's value in ``config`` (validated), lists as lists; a
        script's options have the same names (:func:`poolkit.cli.add_settings_options`)."""
        return {name: config_value(config, key) for name, key in cls.config_keys().items()}
