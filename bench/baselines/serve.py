"""`python -m bench.baselines.serve APP --port P [--cert C --key K]`: a baseline under uvicorn.

Uses the gate's own uvicorn settings (httptools, no access log, no server header) on uvloop, and
for TLS the gate's own `ReloadingCertificate` context, so the TLS handshake and record costs are
identical on both sides of the ratio.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from bench.baselines.apps import admission_app, admission_audited_app, multipart_app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("app", choices=["admission", "admission-audited", "multipart"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    parser.add_argument("--audit-db", type=Path, help="admission-audited: the audit store")
    args = parser.parse_args()
    if args.app == "admission-audited":
        if args.audit_db is None:
            parser.error("admission-audited needs --audit-db")
        app = admission_audited_app(args.audit_db)
    else:
        app = admission_app() if args.app == "admission" else multipart_app()
    tls: dict[str, str] = {}
    if args.cert is not None and args.key is not None:
        tls = {"ssl_certfile": str(args.cert), "ssl_keyfile": str(args.key)}
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, loop="uvloop",
                            http="httptools", lifespan="off", log_level="warning",
                            access_log=False, server_header=False, proxy_headers=False, **tls)
    config.load()
    if args.cert is not None and args.key is not None:
        from webhook.server.tls import ReloadingCertificate

        config.ssl = ReloadingCertificate(args.cert, args.key).context
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
