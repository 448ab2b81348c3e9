"""B10: `migration-gate validate` over 1,000 artifact folders vs the policy CLIs teams use in CI.

Peers, built from their Go modules at pinned versions by tools/peers/build.sh:
- conftest (OPA/Rego) over each folder's app-config.yaml and migration_manifest.json;
- gator (Gatekeeper's CLI, `gator test`) over the same changes as MigrationRequest objects, with a
  ConstraintTemplate whose Rego parses `spec.config` (`yaml.unmarshal`);
- kyverno (`kyverno apply`), a ClusterPolicy with JMESPath deny conditions over
  `parse_yaml(spec.config)`, over the same objects.

Each tool gets the equivalent of the gate's default T1 rules that its language can express
(`RULES` below), runs once per round over all 1,000 folders in ONE invocation (start-up is part
of a CI step), and must exit 0 (every folder passes). Before the timed rounds every tool must
reject a folder with `privileged: true`, so a tool that checks nothing cannot pass for fast.
The figure is app-config.yaml files decided per second (with their manifests), wall clock,
rounds interleaved.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.config import Config
from bench.interleave import interleave
from bench.model import Result
from bench.payloads import TRUST_DIR, admission_review, artifacts
from bench.procs import BENCH_CACHE, CACHE, LOAD_CPU, ROOT, pinned

FOLDERS = 1000
PEERS = {"conftest": ("conftest", "v0.71.1"), "gator": ("gator", "v3.23.1"),
         "kyverno": ("kubectl-kyverno", "v1.19.1")}

#: the gate's default T1 rules, as far as Rego over the parsed files can say them
CONFTEST_POLICY = """package main

import rego.v1

is_manifest if input.config_sha256

is_config if not is_manifest

deny contains "tls-required: tls.enabled must be true" if {
\tis_config
\tnot input.tls.enabled == true
}

deny contains "tls-min-version: tls.min_version must be 1.2 or 1.3" if {
\tis_config
\tnot input.tls.min_version in {"1.2", "1.3"}
}

deny contains sprintf("no-public-bind: ports[%d].bind", [i]) if {
\tis_config
\tsome i, p in input.ports
\tnot internal_bind(p.bind)
}

deny contains sprintf("no-public-bind: ports[%d].exposure must be internal", [i]) if {
\tis_config
\tsome i, p in input.ports
\tp.exposure != "internal"
}

internal_bind(b) if startswith(b, "127.")
internal_bind(b) if startswith(b, "10.")
internal_bind(b) if startswith(b, "192.168.")
internal_bind(b) if b == "localhost"

schemes := ["vault://", "k8s-secret://", "aws-sm://", "gcp-sm://", "azure-kv://", "sops://"]

reference(v) if {
\tis_string(v)
\tsome s in schemes
\tstartswith(v, s)
\tcount(v) > count(s)
}

deny contains "secrets-ref-required: secrets_ref must be a secret-store reference" if {
\tis_config
\tnot reference(input.secrets_ref)
}

deny contains sprintf("no-inline-secrets: %v", [concat(".", [p | some p in path])]) if {
\tis_config
\twalk(input, [path, value])
\tcount(path) > 0
\tkey := path[count(path) - 1]
\tis_string(key)
\tregex.match(`(?i)(password|passwd|secret|token|api_?key|private_?key)$`, key)
\tnot reference(value)
\tvalue != null
}

deny contains "no-privileged: security.privileged must be false" if {
\tis_config
\tinput.security.privileged == true
}

deny contains "no-root: security.run_as_root must be false" if {
\tis_config
\tinput.security.run_as_root == true
}

deny contains "no-added-caps: security.capabilities must be empty" if {
\tis_config
\tcount(input.security.capabilities) > 0
}

deny contains "input-invalid: config_sha256 must be 64 lowercase hex" if {
\tis_manifest
\tnot regex.match(`^[0-9a-f]{64}$`, input.config_sha256)
}

deny contains "input-invalid: env must be prod or staging" if {
\tis_manifest
\tnot input.env in {"prod", "staging"}
}
"""

GATOR_TEMPLATE = """apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: migrationrules
spec:
  crd:
    spec:
      names:
        kind: MigrationRules
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package migrationrules

        spec := input.review.object.spec
        config := yaml.unmarshal(spec.config)

        violation[{"msg": "tls-required"}] {
          not config.tls.enabled == true
        }
        violation[{"msg": "tls-min-version"}] {
          not {"1.2", "1.3"}[config.tls.min_version]
        }
        violation[{"msg": msg}] {
          p := config.ports[i]
          not internal_bind(p.bind)
          msg := sprintf("no-public-bind: ports[%d].bind", [i])
        }
        violation[{"msg": msg}] {
          p := config.ports[i]
          p.exposure != "internal"
          msg := sprintf("no-public-bind: ports[%d].exposure", [i])
        }
        internal_bind(b) { startswith(b, "127.") }
        internal_bind(b) { startswith(b, "10.") }
        internal_bind(b) { startswith(b, "192.168.") }
        internal_bind(b) { b == "localhost" }
        schemes := ["vault://", "k8s-secret://", "aws-sm://", "gcp-sm://", "azure-kv://", "sops://"]
        reference(v) {
          is_string(v)
          startswith(v, schemes[_])
        }
        violation[{"msg": "secrets-ref-required"}] {
          not reference(config.secrets_ref)
        }
        violation[{"msg": msg}] {
          walk(config, [path, value])
          count(path) > 0
          key := path[count(path) - 1]
          is_string(key)
          regex.match(`(?i)(password|passwd|secret|token|api_?key|private_?key)$`, key)
          not reference(value)
          value != null
          msg := sprintf("no-inline-secrets: %v", [key])
        }
        violation[{"msg": "no-privileged"}] {
          config.security.privileged == true
        }
        violation[{"msg": "no-root"}] {
          config.security.run_as_root == true
        }
        violation[{"msg": "no-added-caps"}] {
          count(config.security.capabilities) > 0
        }
        violation[{"msg": "input-invalid: configSha256"}] {
          not regex.match(`^[0-9a-f]{64}$`, spec.configSha256)
        }
        violation[{"msg": "input-invalid: env"}] {
          not {"prod", "staging"}[spec.env]
        }
        violation[{"msg": "config-identity-mismatch"}] {
          config.app_id != spec.appId
        }
        violation[{"msg": "signature-required"}] {
          spec.env == "prod"
          not spec.signature.signatures[0]
        }
"""

GATOR_CONSTRAINT = """apiVersion: constraints.gatekeeper.sh/v1beta1
kind: MigrationRules
metadata:
  name: migration-rules
spec:
  match:
    kinds:
      - apiGroups: ["migrationgate.io"]
        kinds: ["MigrationRequest"]
"""

KYVERNO_POLICY = """apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: migration-rules
spec:
  background: false
  rules:
    - name: config-rules
      match:
        any:
          - resources:
              kinds: ["migrationgate.io/v1alpha1/MigrationRequest"]
      context:
        - name: config
          variable:
            jmesPath: "parse_yaml(request.object.spec.config)"
      validate:
        failureAction: Enforce
        message: "the migration breaks a rule"
        deny:
          conditions:
            any:
              - {key: "{{ config.security.privileged }}", operator: Equals, value: true}
              - {key: "{{ config.security.run_as_root }}", operator: Equals, value: true}
              - {key: "{{ length(config.security.capabilities) }}", operator: GreaterThan, value: 0}
              - {key: "{{ config.tls.enabled }}", operator: NotEquals, value: true}
              - {key: "{{ config.tls.min_version }}", operator: AnyNotIn, value: ["1.2", "1.3"]}
              - {key: "{{ config.ports[].exposure }}", operator: AnyNotIn, value: ["internal"]}
              - key: "{{ config.ports[].bind }}"
                operator: AnyNotIn
                value: ["127.*", "10.*", "192.168.*", "localhost"]
              - {key: "{{ config.secrets_ref }}", operator: NotEquals, value: "vault://*"}
              - key: "{{ config.app_id }}"
                operator: NotEquals
                value: "{{ request.object.spec.appId }}"
              - key: "{{ request.object.spec.env }}"
                operator: AnyNotIn
                value: ["prod", "staging"]
              - key: "{{ regex_match('^[0-9a-f]{64}$', request.object.spec.configSha256) }}"
                operator: Equals
                value: false
"""

#: what the peers cannot check that the gate does
CANNOT = ("the config's SHA-256 over its exact bytes (each peer hands its rules parsed "
          "documents, not the bytes), the DSSE signature (no Ed25519 verification in Rego or "
          "kyverno's JMESPath), the signed manifest against the spec, YAML 1.1/1.2 "
          "ambiguity, duplicate and case-twin keys, the secret-shape scan of every value "
          "(approximated by a key-name regex), and the audit record")


def peer(name: str) -> Path | None:
    binary, version = PEERS[name]
    path = CACHE / "bin" / f"{name}-{version}" / binary
    return path if path.is_file() else None


def _folders(root: Path, n: int) -> Path:
    """n distinct signed t1_good folders (and their MigrationRequest objects), cached."""
    done = root / f".done-{n}"
    if done.exists():
        _policies(root)
        return root
    shutil.rmtree(root, ignore_errors=True)
    (root / "folders").mkdir(parents=True)
    (root / "objects").mkdir()
    for i in range(n):
        a = artifacts(5000 + i)
        d = root / "folders" / f"m{i:04d}"
        d.mkdir()
        (d / "migration_manifest.json").write_bytes(a.manifest)
        (d / "app-config.yaml").write_bytes(a.config)
        (d / "migration_manifest.dsse.json").write_bytes(a.signature)
        obj = json.loads(admission_review(a, uid="x"))["request"]["object"]
        obj["metadata"] = {"name": f"m{i:04d}", "namespace": "payments"}
        (root / "objects" / f"m{i:04d}.json").write_text(json.dumps(obj))
    bad = root / "bad"
    bad.mkdir()
    a = artifacts(4999)
    cfg = a.config.replace(b"privileged: false", b"privileged: true")
    (bad / "app-config.yaml").write_bytes(cfg)
    (bad / "migration_manifest.json").write_bytes(a.manifest)
    obj = json.loads(admission_review(a, uid="x"))["request"]["object"]
    obj["spec"]["config"] = cfg.decode()
    (bad / "object.json").write_text(json.dumps(obj))
    _policies(root)
    done.touch()
    return root


def _policies(root: Path) -> None:
    """The peers' rules, written afresh each run (the folders are cached, the rules are code)."""
    (root / "policy").mkdir(exist_ok=True)
    (root / "policy" / "migration.rego").write_text(CONFTEST_POLICY)
    (root / "gator").mkdir(exist_ok=True)
    (root / "gator" / "template.yaml").write_text(GATOR_TEMPLATE)
    (root / "gator" / "constraint.yaml").write_text(GATOR_CONSTRAINT)
    (root / "kyverno").mkdir(exist_ok=True)
    (root / "kyverno" / "policy.yaml").write_text(KYVERNO_POLICY)
    ymls = root / "objects-yaml"  # kyverno reads a folder's .yaml files only (JSON is YAML)
    if not ymls.is_dir():
        ymls.mkdir()
        for obj in (root / "objects").iterdir():
            (ymls / (obj.stem + ".yaml")).write_bytes(obj.read_bytes())


def _run(cmd: list[str], *, expect_ok: bool, what: str) -> float:
    t = time.perf_counter()
    proc = subprocess.run(pinned(cmd, LOAD_CPU), cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=1800)
    secs = time.perf_counter() - t
    if (proc.returncode == 0) != expect_ok:
        raise RuntimeError(f"{what}: exit {proc.returncode}, expected "
                           f"{'0' if expect_ok else 'non-zero'}: "
                           f"{(proc.stdout + proc.stderr)[-1200:]}")
    return secs


def b10(cfg: Config) -> list[Result]:
    n = 100 if cfg.quick else FOLDERS
    root = _folders(BENCH_CACHE / "peers" / f"n{n}", n)
    folders = sorted(str(p) for p in (root / "folders").iterdir())
    configs = [f"{d}/app-config.yaml" for d in folders]
    manifests = [f"{d}/migration_manifest.json" for d in folders]
    exe = Path(sys.executable).with_name("migration-gate")
    gate = [str(exe), "validate", "migration", "--trust-dir", str(TRUST_DIR), "--no-audit",
            "--output", "json", *folders]
    gate_bad = [str(exe), "validate", "migration", "--trust-dir", str(TRUST_DIR), "--no-audit",
                str(root / "bad")]
    tools: dict[str, tuple[list[str], list[str]]] = {}
    missing: dict[str, str] = {}
    conftest = peer("conftest")
    if conftest:
        pol = str(root / "policy")
        tools["conftest"] = ([str(conftest), "test", "--no-color", "-p", pol, *configs,
                              *manifests],
                             [str(conftest), "test", "--no-color", "-p", pol,
                              str(root / "bad" / "app-config.yaml")])
    else:
        missing["conftest"] = "not built (tools/peers/build.sh conftest)"
    gator = peer("gator")
    if gator:
        tpl = [str(root / "gator" / "template.yaml"), str(root / "gator" / "constraint.yaml")]
        tools["gator"] = ([str(gator), "test", "-f", tpl[0], "-f", tpl[1], "-f",
                           str(root / "objects")],
                          [str(gator), "test", "-f", tpl[0], "-f", tpl[1], "-f",
                           str(root / "bad" / "object.json")])
    kyverno = peer("kyverno")
    if kyverno:
        pol = str(root / "kyverno" / "policy.yaml")
        tools["kyverno"] = ([str(kyverno), "apply", pol, "--resource", str(root / "objects-yaml")],
                            [str(kyverno), "apply", pol, "--resource",
                             str(root / "bad" / "object.json")])
    if not gator:
        missing["gator"] = _build_failure("gator")
    if not kyverno:
        missing["kyverno"] = _build_failure("kyverno")
    _run(gate_bad, expect_ok=False, what="migration-gate on the privileged folder")
    for name, (_, bad) in tools.items():
        _run(bad, expect_ok=False, what=f"{name} on the privileged folder")
    sides: dict[str, Callable[[], float]] = {
        "gate": lambda: n / _run(gate, expect_ok=True, what="migration-gate validate")}
    for name, (good, _) in tools.items():
        sides[name] = lambda good=good, name=name: n / _run(good, expect_ok=True, what=name)
    s = interleave(1 if cfg.quick else 3, sides=sides, warmup=not cfg.quick)
    rows = []
    what = (f"`migration-gate validate migration` over {n} artifact folders in one run "
            "(decide + sign check, no audit) vs")
    for rid, peer_name in (("B10a", "conftest"), ("B10b", "gator"), ("B10c", "kyverno")):
        label = peer_name
        res = Result(rid, f"{what} {label} with equivalent rules", "files/s", "info", 0.0,
                     f"{label} ({PEERS[peer_name][1]}), same folders, one run",
                     gate=s["gate"], baseline=s.get(peer_name, []))
        if peer_name not in s:
            res.note = "Not measured: " + "; ".join(f"{k}: {v}" for k, v in missing.items())
        else:
            res.note = (f"files/s = app-config.yaml files decided per second with their "
                        f"manifests. {label} checks what its language can of the same rules; "
                        f"it cannot check {CANNOT}.")
            if peer_name == "kyverno":
                res.note += (" kyverno: a ClusterPolicy whose deny conditions read "
                             "`parse_yaml(request.object.spec.config)` (JMESPath), over the "
                             "MigrationRequest objects; no secret-shape scan at all.")
        rows.append(res)
    return rows


def _build_failure(name: str) -> str:
    _, version = PEERS[name]
    log = CACHE / "bin" / f"{name}-{version}.log"
    if log.exists():
        tail = " ".join(log.read_text().split()[-40:])
        return f"the build of {name} {version} failed: {tail[-400:]}"
    return f"not built (tools/peers/build.sh {name})"
