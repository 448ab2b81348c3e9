"""Dev keys are written through an O_EXCL temp file: a symlink planted at the old predictable
temp name (`.<key>.<pid>.tmp`) is never followed, so no key lands in (or truncates) its target."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from webhook.server.devcerts import ensure_dev_tls, write_private


def test_planted_symlinks_at_the_old_temp_names_are_not_followed(tmp_path: Path) -> None:
    d = tmp_path / "tls"
    d.mkdir()
    ca, ca_key, crt, key = d / "ca.crt", d / "ca.key", d / "server.crt", d / "server.key"
    victims = {}
    for p in (ca, ca_key, crt, key):
        victim = tmp_path / f"victim-{p.name}"
        victim.write_bytes(b"precious\n")
        victims[p] = victim
        (d / f".{p.name}.{os.getpid()}.tmp").symlink_to(victim)

    assert ensure_dev_tls(ca, ca_key, crt, key) is True

    for p, victim in victims.items():
        assert victim.read_bytes() == b"precious\n", p.name
        assert p.is_file() and not p.is_symlink()
    assert b"PRIVATE KEY" in key.read_bytes() and b"PRIVATE KEY" in ca_key.read_bytes()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(ca_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(crt.stat().st_mode) == 0o644


def test_write_private_replaces_a_symlink_at_the_target_and_cleans_up(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    target = tmp_path / "k.pem"
    target.symlink_to(victim)
    write_private(target, b"secret")
    assert victim.read_bytes() == b"precious\n"
    assert not target.is_symlink() and target.read_bytes() == b"secret"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.pem", "victim"]
