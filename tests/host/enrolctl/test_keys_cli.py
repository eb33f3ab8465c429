"""`enrolctl keys init`: the registry's key material, secret files 0600, never overwritten
unless asked (--force); a key directory that is not one is refused in one line."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from conftest import enrolctl
from cryptography import x509

from host_tools.registry.keys import PUBLIC_FILES, SECRET_FILES, load_keys




def digest(d: Path) -> str:
    return hashlib.sha256(b"".join((d / n).read_bytes() for n in sorted(SECRET_FILES + PUBLIC_FILES))).hexdigest()


def test_keys_init_writes_secrets_0600_and_refuses_to_overwrite(tmp_path: Path) -> None:
    d = tmp_path / "keys"
    r = enrolctl("keys", "init", str(d), "--registry-id", "national", "--host", "registry.test", "--host", "10.0.0.5")
    assert r.returncode == 0, r.stderr
    for name in SECRET_FILES:
        assert stat.S_IMODE((d / name).stat().st_mode) == 0o600, name
    for name in PUBLIC_FILES:
        assert not stat.S_IMODE((d / name).stat().st_mode) & 0o022, name  # nobody else may change them
    keys = load_keys(d)
    assert keys.registry_id == "national" and keys.rsa_private.key_size == 2048
    ca = x509.load_pem_x509_certificate(keys.ca_pem)
    server = x509.load_pem_x509_certificate(keys.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)  # raises unless the CA devices pin signed it
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "registry.test" in names.get_values_for_type(x509.DNSName)

    before = digest(d)
    again = enrolctl("keys", "init", str(d))
    assert again.returncode == 1 and again.stderr.startswith("enrolctl: ") and "--force" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1 and digest(d) == before  # nothing was touched

    forced = enrolctl("keys", "init", str(d), "--force")
    assert forced.returncode == 0 and digest(d) != before
    assert load_keys(d).registry_id == "registry"


def test_a_directory_that_is_not_a_key_directory_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    r = enrolctl("registry", "serve", "--keys", str(tmp_path / "empty"), "--port", "1")
    assert r.returncode == 1 and "is not a registry key directory" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    bad = enrolctl("registry", "serve", "--keys", str(tmp_path), "--port", "99999")
    assert bad.returncode == 2 and "65535" in bad.stderr  # a port out of range: a usage error, nothing started
