"""The SDK's typed results (``connectors/wire.py``), generated from the gateway's OpenAPI document with
datamodel-code-generator, so the SDK's types and the API's schemas have one source.

Regenerate after an API change (``tests/exchange/test_sdk_types.py`` fails until you do)::

    .venv/bin/python -m tests.support.wire_types
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from datamodel_code_generator import DataModelType, InputFileType, generate

WIRE = Path(__file__).resolve().parents[2] / "connectors" / "wire.py"
HEADER = ('"""Typed request and response bodies of the gateway API (TypedDicts), generated from its OpenAPI\n'
          'document by ``python -m tests.support.wire_types``: do not edit by hand."""\n\n'
          "# ruff: noqa\n")


def render(document: dict[str, Any]) -> str:
    """The module text for ``document``."""
    code = generate(json.dumps(document, sort_keys=True), input_file_type=InputFileType.OpenAPI,
                    output_model_type=DataModelType.TypingTypedDict, target_python_version="3.11",
                    use_standard_collections=True, use_union_operator=True, disable_timestamp=True,
                    formatters=["builtin"], custom_file_header=HEADER)
    assert isinstance(code, str)
    return code


def document() -> dict[str, Any]:
    """The gateway's OpenAPI document, as a freshly initialised gateway serves it."""
    from gateway.app import create_app
    from gateway.settings import Settings
    from gateway.setup import init_data_dir

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(env="test", data_dir=Path(folder), database_url=f"sqlite:///{folder}/g.db",
                            background_worker=False, argon2_time_cost=1, argon2_memory_kib=8)
        init_data_dir(settings, lambda _message: None)
        return dict(create_app(settings).openapi())


if __name__ == "__main__":
    WIRE.write_text(render(document()))
    print(f"wrote {WIRE}")
