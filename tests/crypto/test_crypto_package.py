"""Package-level guarantees: the exact public API and the nacl import boundary."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import crypto
from crypto import errors

CRYPTO_DIR = Path(crypto.__file__).parent

EXPECTED_API = {
    "JSON",
    "AgencyKeyPair",
    "AgencyPublicKeys",
    "CompactRange",
    "CryptoError",
    "DecryptionFailed",
    "InvalidKey",
    "InvalidSignature",
    "SecretHasher",
    "b64u_decode",
    "b64u_encode",
    "canonical_json",
    "ciphertext_hash",
    "ed25519_private_jwk",
    "ed25519_public_jwk",
    "fingerprint",
    "generate_agency_keys",
    "generate_signing_seed",
    "jwk_kid",
    "load_key_file",
    "load_signing_seed",
    "merkle",
    "normalise_code",
    "normalise_fingerprint",
    "open_field",
    "random_code",
    "random_token",
    "save_key_file",
    "save_signing_seed",
    "seal_field",
    "sha256_hex",
    "sign",
    "sign_document",
    "sign_jws",
    "signing_public_key",
    "verify",
    "verify_document",
    "verify_jws",
}


def _imported_modules(source: str) -> set[str]:
    """Every module a source file imports, statically or via importlib/__import__ with a literal."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in {"import_module", "__import__"} and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.add(first.value)
    return found


def _is_nacl(module: str) -> bool:
    return module == "nacl" or module.startswith("nacl.")


def test_all_lists_exactly_the_public_api() -> None:
    assert len(crypto.__all__) == len(set(crypto.__all__)), "duplicate names in __all__"
    assert set(crypto.__all__) == EXPECTED_API
    for name in crypto.__all__:
        assert hasattr(crypto, name), name


def test_every_public_function_and_class_has_a_docstring() -> None:
    for name in crypto.__all__:
        obj = getattr(crypto, name)
        if inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismodule(obj):
            assert inspect.getdoc(obj), f"{name} has no docstring"


def test_no_crypto_module_except_the_wrapper_imports_nacl() -> None:
    modules = sorted(CRYPTO_DIR.rglob("*.py"))
    assert len(modules) >= 10, "expected to find the crypto modules"
    offenders = [
        str(path.relative_to(CRYPTO_DIR))
        for path in modules
        if path.name != "_nacl.py" and any(_is_nacl(m) for m in _imported_modules(path.read_text()))
    ]
    assert offenders == []


def test_the_import_detector_does_see_the_wrappers_nacl_imports() -> None:
    # Guards the test above against silently detecting nothing.
    assert any(_is_nacl(m) for m in _imported_modules((CRYPTO_DIR / "_nacl.py").read_text()))
    assert _imported_modules("import importlib\nimportlib.import_module('nacl.public')") >= {"nacl.public"}


def test_no_crypto_module_uses_the_non_cryptographic_random_module() -> None:
    for path in CRYPTO_DIR.rglob("*.py"):
        assert "random" not in _imported_modules(path.read_text()), path.name


def test_every_deliberate_error_is_a_crypto_error() -> None:
    for exc in (errors.DecryptionFailed, errors.InvalidSignature, errors.InvalidKey):
        assert issubclass(exc, crypto.CryptoError)
    assert issubclass(crypto.CryptoError, Exception)
    assert crypto.DecryptionFailed is errors.DecryptionFailed
