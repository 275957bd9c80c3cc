"""Creates the MLflow artifact bucket on an S3-compatible store, waiting while the store starts.

Env: MLFLOW_S3_ENDPOINT_URL (omit for AWS), BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION; BUCKET_WAIT_SECONDS (default 180). Idempotent: an existing bucket is fine.
"""

import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

ALREADY_THERE = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}


def main() -> int:
    bucket = os.environ.get("BUCKET", "")
    if not bucket:
        print("error: BUCKET is not set", file=sys.stderr)
        return 2
    endpoint = os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None
    wait_seconds = float(os.environ.get("BUCKET_WAIT_SECONDS", "180"))
    started = time.monotonic()
    while True:
        # A fresh client per attempt: botocore keeps per-client state learnt from errors (its region
        # redirector's bucket cache). Seen on the local cluster after a rotation, where the Job starts
        # while the store still runs with the old keys: one long-lived client kept getting 404 from the
        # restarted store for minutes while a new client in the same pod succeeded at once.
        client = boto3.client("s3", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=10))
        try:
            client.create_bucket(Bucket=bucket)
            print(f"created bucket {bucket} at {endpoint or 'AWS S3'}", flush=True)
            return 0
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in ALREADY_THERE:
                print(f"bucket {bucket} already exists at {endpoint or 'AWS S3'}", flush=True)
                return 0
            reason = f"{code}: {err}"
        except BotoCoreError as err:
            reason = str(err)
        waited = time.monotonic() - started
        if waited > wait_seconds:
            print(f"error: could not create bucket {bucket} after {waited:.0f}s: {reason}", file=sys.stderr)
            return 1
        print(f"waiting for the object store ({waited:.0f}s): {reason}", flush=True)
        time.sleep(2)


if __name__ == "__main__":
    sys.exit(main())
