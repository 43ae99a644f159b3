Kind = "terminating-gateway"
Name = "lambda-gateway"
Services = [{ Name = "thumbnailer" }, { Name = "*" }]
