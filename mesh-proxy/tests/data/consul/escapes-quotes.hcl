Kind = "service-intentions"
Name = "quoting"
Sources = [{ Name = "a", Action = "allow", Description = "say \"hi\" to C:\\temp" }]
