"""Expands template.yaml with the SAM translator, offline, and prints the CloudFormation JSON
that `sam deploy` would submit (what the template tests assert on).

`python scripts/expand-template.py [TEMPLATE]` with the project's virtualenv (aws-sam-translator).
The code location is a placeholder (the translator wants an S3 URI where `sam build` puts one);
AWS_DEFAULT_REGION defaults to eu-west-1 for the ARNs the translator builds.
"""

import json
import os
import sys

from samtranslator.public.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template names no AWS managed policy by name, so none needs looking up."""

    def load(self):
        return {}


def main():
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    path = sys.argv[1] if len(sys.argv) > 1 else "template.yaml"
    with open(path, encoding="utf-8") as f:
        text = f.read().replace("CodeUri: .", "CodeUri: s3://placeholder/code.zip")
    parameters = {"DatabaseUrl": "postgres://placeholder", "Stage": "dev"}
    try:
        expanded = transform(yaml_parse(text), parameters, NoManagedPolicies())
    except InvalidDocumentException as error:
        for cause in error.causes:
            print(cause, file=sys.stderr)
        sys.exit(1)
    json.dump(expanded, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
