"""``flotilla crds generate|check|install``: the CRD generator's command line.

Registered in ``flotilla/cli.py`` (``SUBCOMMAND_MODULES``). ``generate`` writes the CRDs from the
models, ``check`` exits 1 when the checked-in files differ (CI's drift check), ``install`` applies
them to the cluster of a kubeconfig.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from schemas.crdgen.generate import DEFAULT_CRD_DIR, check_crds, write_crds


def _generate(args: argparse.Namespace) -> int:
    for path in write_crds(args.dir):
        print(path)
    return 0


def _check(args: argparse.Namespace) -> int:
    drift = check_crds(args.dir)
    if drift.clean:
        print(f"CRDs in {args.dir} match the models")
        return 0
    print(f"CRDs in {args.dir} differ from the models; run `flotilla crds generate`:", file=sys.stderr)
    print(drift.describe(), file=sys.stderr)
    return 1


def _install(args: argparse.Namespace) -> int:
    from kubernetes import config as k8s_config

    from schemas.crdgen.install import CrdInstallError, install_crds

    api_client = k8s_config.new_client_from_config(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
    try:
        for name in install_crds(api_client, crd_dir=args.dir, timeout=args.timeout):
            print(f"{name} established")
    except CrdInstallError as err:
        print(err, file=sys.stderr)
        return 1
    finally:
        api_client.close()
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``crds`` and its subcommands to the ``flotilla`` parser."""
    parser = subparsers.add_parser(
        "crds",
        help="generate, check or install the OpenKruise CRDs",
        description="The CRDs are generated from the models in schemas/kruise and checked in.",
    )
    actions = parser.add_subparsers(dest="crds_command", metavar="ACTION", required=True)
    for name, func, help_text in (
        ("generate", _generate, "write the CRDs generated from the models"),
        ("check", _check, "exit 1 if the checked-in CRDs differ from the models"),
        ("install", _install, "server-side apply the CRDs and wait until they are Established"),
    ):
        sub = actions.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--dir", type=Path, default=DEFAULT_CRD_DIR, help="CRD folder (default: %(default)s)"
        )
        if name == "install":
            sub.add_argument(
                "--kubeconfig", default=None, help="kubeconfig (default: $KUBECONFIG or ~/.kube/config)"
            )
            sub.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for Established")
        sub.set_defaults(func=func)
