Kind     = "service-defaults"
Name     = "thumbnailer"
Protocol = "http"
EnvoyExtensions = [
  {
    Name     = "builtin/aws/lambda"
    Required = false
    Arguments = {
      ARN                = "arn:aws:lambda:eu-west-1:111122223333:function:thumbnailer:prod"
      PayloadPassthrough = true
      InvocationMode     = "asynchronous"
    }
  }
]
