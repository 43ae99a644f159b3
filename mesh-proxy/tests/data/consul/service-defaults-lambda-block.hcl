Kind = "service-defaults"
Name = "resizer"
protocol = "http"
// A single extension written as a block, keys in snake_case.
envoy_extensions {
  name = "builtin/aws/lambda"
  arguments {
    arn = "arn:aws:lambda:us-east-1:111122223333:function:resizer"
    payload_passthrough = false
  }
}
