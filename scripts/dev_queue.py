"""`make dev`'s queues and buckets: moto's SQS and S3 stand in for them, and this for what
Lambda does between them and the functions.

    python3 scripts/dev_queue.py create SQS_ENDPOINT NAME          prints the queue's URL
    python3 scripts/dev_queue.py consume QUEUE_URL INVOKE_URL       runs until stopped
    python3 scripts/dev_queue.py bucket S3_ENDPOINT NAME ORIGINS [QUEUE_URL]
    python3 scripts/dev_queue.py deliver QUEUE_URL INVOKE_URL       runs until stopped

`consume` receives up to 10 messages at a time (waiting up to a second), invokes the dispatcher
with them as SQS's Lambda event through the invoke API (`cargo lambda watch` serves it), and
deletes the messages the answer does not list as `batchItemFailures`; those, and a batch whose
invocation failed, come back after the queue's visibility timeout, as in AWS.

`bucket` makes a bucket (once) with the template's CORS rule for ORIGINS (comma separated) and,
given QUEUE_URL, has moto announce every new upload (`.../original`) on that queue. `deliver`
stands in for S3 invoking a function asynchronously: it invokes the function with each
announcement's body, the S3 event itself, and an announcement whose invocation failed comes back
after the visibility timeout (Lambda retries an asynchronous invocation too).
"""

import json
import sys
import time
import urllib.request
from urllib.parse import urlsplit

import boto3

REGION = "eu-west-1"


def client(endpoint, service="sqs"):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def create(endpoint, name):
    sqs = client(endpoint)
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "10"})["QueueUrl"]
    print(url)


def consume(queue_url, invoke_url):
    parts = urlsplit(queue_url)
    sqs = client(f"{parts.scheme}://{parts.netloc}")
    arn = f"arn:aws:sqs:{REGION}:000000000000:{parts.path.rsplit('/', 1)[-1]}"
    while True:
        try:
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        except Exception as error:  # the queue stand-in is restarting: try again
            print(f"events queue: {error}", file=sys.stderr)
            time.sleep(1)
            continue
        messages = got.get("Messages", [])
        if not messages:
            continue
        batch = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": {},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": REGION,
                }
                for m in messages
            ]
        }
        request = urllib.request.Request(
            invoke_url,
            data=json.dumps(batch).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                result = json.load(answer)
        except Exception as error:
            print(f"events queue: the dispatcher failed: {error}", file=sys.stderr)
            continue
        failed = {f.get("itemIdentifier") for f in (result or {}).get("batchItemFailures", [])}
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def bucket(endpoint, name, origins, queue_url=None):
    s3 = client(endpoint, "s3")
    try:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_bucket_cors(
        Bucket=name,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedMethods": ["GET", "POST"],
                    "AllowedOrigins": [o.strip() for o in origins.split(",") if o.strip()],
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["Content-Disposition", "ETag"],
                    "MaxAgeSeconds": 600,
                }
            ]
        },
    )
    if queue_url:
        sqs = client(endpoint)
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        s3.put_bucket_notification_configuration(
            Bucket=name,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": arn["Attributes"]["QueueArn"],
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {
                            "Key": {"FilterRules": [{"Name": "suffix", "Value": "/original"}]}
                        },
                    }
                ]
            },
        )


def deliver(queue_url, invoke_url):
    parts = urlsplit(queue_url)
    sqs = client(f"{parts.scheme}://{parts.netloc}")
    while True:
        try:
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        except Exception as error:  # the stand-in is restarting: try again
            print(f"bucket events: {error}", file=sys.stderr)
            time.sleep(1)
            continue
        for m in got.get("Messages", []):
            if "Records" not in json.loads(m["Body"]):  # S3's test message: not for the function
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
                continue
            request = urllib.request.Request(
                invoke_url,
                data=m["Body"].encode(),
                headers={"content-type": "application/json"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=120) as answer:
                    answer.read()
            except Exception as error:
                print(f"bucket events: the function failed: {error}", file=sys.stderr)
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"create": create, "consume": consume, "bucket": bucket, "deliver": deliver}[command](*args)
