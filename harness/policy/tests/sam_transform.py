"""Prints template.yaml after the SAM transform, as JSON, offline and without credentials.

It is the transform that decides which IAM roles exist and which AWS-managed policies each one
gets (AWSLambdaBasicExecutionRole for every role it generates, AWSXrayWriteOnlyAccess with
`Tracing: Active`, a managed policy per event type), so the policy tests read its output rather
than guess what SAM adds: see managed_policies.rs, which runs this with .tools/venv/bin/python.

Usage: sam_transform.py [TEMPLATE]   (default: the repository's template.yaml)
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
REQUIREMENTS = ROOT / "tools" / "requirements.txt"

# Any region will do: it only fills AWS::Region and the partition of the ARNs SAM writes. Fixed,
# and every AWS config or credentials file ignored, so the output depends on nothing but the
# template: a profile named in AWS_PROFILE that this machine lacks would otherwise fail the run.
REGION = "us-east-1"
for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
    os.environ.pop(variable, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

# The properties that name local code or documents. `sam build` and `sam package` turn them into
# S3 URIs before the transform sees them; the translator rejects a local path.
LOCAL_PATHS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


def fail(message):
    sys.stderr.write(f"sam_transform.py: {message}\n")
    sys.exit(2)


def pinned_translator_version():
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == "aws-sam-translator":
            return version.split(";")[0].strip()
    fail(f"{REQUIREMENTS} pins no aws-sam-translator")


def as_if_packaged(template):
    """Every local path as an S3 URI, as `sam validate` does: where the code is changes no role."""
    places = [
        (resource.get("Type"), resource.get("Properties", {}))
        for resource in template.get("Resources", {}).values()
    ]
    places.append(("AWS::Serverless::Function", template.get("Globals", {}).get("Function", {})))
    for resource_type, properties in places:
        key = LOCAL_PATHS.get(resource_type)
        if key and isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
            properties[key] = "s3://packaged/" + properties[key].strip("/")


def no_account_managed_policies():
    """What SAM asks IAM for, to turn a managed policy's name in `Policies` into its ARN. The
    translator knows AWS's own policies by name already (a map it bundles); a name it does not know
    is left in ManagedPolicyArns as written, where the test finds it unknown."""
    return {}


def main():
    try:
        import boto3
        import samtranslator
        from samtranslator.parser.parser import Parser
        from samtranslator.translator.translator import Translator
        from samtranslator.utils.py27hash_fix import (
            to_py27_compatible_template,
            undo_mark_unicode_str_in_template,
        )
        from samtranslator.yaml_helper import yaml_parse
    except ImportError as error:
        fail(f"{error}: run ./scripts/setup.sh, which installs the pinned SAM translator")
    # Another translator may attach other policies: read what the pinned one does.
    pinned = pinned_translator_version()
    if samtranslator.__version__ != pinned:
        fail(
            f"aws-sam-translator {samtranslator.__version__} is installed, {pinned} is pinned: "
            "run ./scripts/setup.sh"
        )

    template_path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "template.yaml"
    # yaml_parse reads the short-form intrinsics (!Sub, !GetAtt, !If ...) as SAM does.
    template = yaml_parse(template_path.read_text(encoding="utf-8"))
    as_if_packaged(template)
    # What samtranslator.translator.transform.transform does, with a session of its own: that
    # function takes the region from the environment's default session and fails without one.
    # The session is only asked for its region name; nothing calls AWS.
    session = boto3.session.Session(region_name=REGION)
    parameter_values = {}
    to_py27_compatible_template(template, parameter_values)
    translator = Translator(None, Parser(), boto_session=session)
    transformed = translator.translate(
        template,
        parameter_values=parameter_values,
        get_managed_policy_map=no_account_managed_policies,
    )
    transformed = undo_mark_unicode_str_in_template(transformed)
    json.dump(transformed, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
