"""The convergence soak's figures: ``python -m benchmarks.soak [--quick] [--seed N] [--postgres URL]``.

Runs :func:`tests.soak.soak.run` (long mode unless ``--quick``): random
creates, edits and deletes on both sides under injected faults, then drains
until nothing changes and checks that both sides agree.  Prints a summary
line, then one JSON line ``{"benchmark": "soak", ...}``.  Exits 1 when the
run did not converge.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI size: 200 customers, about 1,500 operations")
    parser.add_argument("--seed", type=int, default=None, help="random seed of the operations and faults")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=None,
        help="run on this PostgreSQL database (a fresh schema is created and dropped)",
    )
    args = parser.parse_args(argv)
    # The faults make the engine log (by design) every error it survives; keep the output to the figures.
    logging.disable(logging.ERROR)

    from tests.soak.soak import Options
    from tests.soak.soak import run

    options = Options.quick() if args.quick else Options.long()
    if args.seed is not None:
        options.seed = args.seed
    if args.postgres:
        from tests.integration.services import pg_schema

        with pg_schema(args.postgres, prefix="qbo_soak") as url:
            options.database_url = url
            figures = run(options)
    else:
        figures = run(options)
    problems = sum(figures["problems"].values())
    docs = figures["documents"]
    print(
        f"{figures['customers']} customers, {figures['operations']} operations, "
        f"{figures['faults_injected']} faults, {figures['requests']} requests "
        f"({figures['requests_per_operation']}/op); converged in {figures['seconds_to_converge']} s "
        f"after {figures['seconds_churning']} s of churn; {docs['documents']} documents "
        f"({docs['documents_by_state'].get('created', 0)} created), {docs['actions']} actions, "
        f"{docs['lost_answers_on_documents']} lost document answers, "
        f"{figures['problems']['duplicate_documents']} duplicate and {figures['problems']['lost_documents']} lost: "
        f"{'CONVERGED' if figures['converged'] else f'{problems} problems'}",
        file=sys.stderr,
    )
    print(json.dumps(figures))
    return 0 if figures["converged"] else 1


if __name__ == "__main__":
    sys.exit(main())
