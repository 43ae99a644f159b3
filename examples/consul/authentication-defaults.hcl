# `authentication` is a Lambda function: the service-defaults entry of the walkthrough, as written
# for `consul config write`. The builtin/aws/lambda extension names the function; the region comes
# from the ARN. Without PayloadPassthrough the function gets Envoy's aws_lambda JSON (raw_path,
# headers, body, is_base64_encoded), as it would behind Consul's Envoy.
Kind     = "service-defaults"
Name     = "authentication"
Protocol = "http"

EnvoyExtensions = [
  {
    Name = "builtin/aws/lambda"
    Arguments = {
      ARN = "arn:aws:lambda:us-east-1:123456789012:function:authentication"
    }
  }
]
