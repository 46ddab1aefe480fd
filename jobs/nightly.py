"""spark-submit entry point for the nightly pipeline.

    spark-submit [--packages/--jars ...] jobs/nightly.py --config conf/cluster.yaml --date 2026-01-01

Runtime choice, resume, locking and ops.runs live in cdp_spark; this only maps arguments.
"""

from cdp_spark.cli import job_main

if __name__ == "__main__":
    job_main(["run", "nightly"])
