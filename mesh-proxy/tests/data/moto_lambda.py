"""Drive moto's Lambda for the discovery tests: moto_lambda.py URL COMMAND NAME [KEY=VALUE | KEY]...

create NAME [TAG=VALUE]...   create the function (and the role it needs), tagged
tag NAME TAG=VALUE...        add or change tags
untag NAME TAG...            remove tags
delete NAME                  delete the function
"""
import io
import sys
import zipfile

import boto3

ACCOUNT_ROLE = "arn:aws:iam::123456789012:role/lambda"


def client(url, service):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def main(url, command, name, *args):
    lam = client(url, "lambda")
    pairs = dict(a.split("=", 1) for a in args if "=" in a)
    if command == "create":
        iam = client(url, "iam")
        try:
            iam.create_role(RoleName="lambda", AssumeRolePolicyDocument="{}")
        except iam.exceptions.EntityAlreadyExistsException:
            pass
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as z:
            z.writestr("index.py", "def handler(event, context):\n    return event\n")
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=ACCOUNT_ROLE,
                            Handler="index.handler", Code={"ZipFile": code.getvalue()},
                            Tags=pairs)
    elif command == "tag":
        arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        lam.tag_resource(Resource=arn, Tags=pairs)
    elif command == "untag":
        arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        lam.untag_resource(Resource=arn, TagKeys=list(args))
    elif command == "delete":
        lam.delete_function(FunctionName=name)
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(*sys.argv[1:])
