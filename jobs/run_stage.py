"""spark-submit entry point for one stage: ``jobs/run_stage.py <stage> --date D [--config ...]``."""

from cdp_spark.cli import job_main

if __name__ == "__main__":
    job_main(["run"])
