"""Configuration: YAML files validated by JSON Schema composed from core and plugins."""

from gwms_core.config.loader import ConfigError, Problem, load_yaml
from gwms_core.config.schema import KINDS, schema_for
from gwms_core.config.validate import LoadedConfig, load_config, validate_data

__all__ = [
    "KINDS",
    "ConfigError",
    "LoadedConfig",
    "Problem",
    "load_config",
    "load_yaml",
    "schema_for",
    "validate_data",
]
