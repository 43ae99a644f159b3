Kind = "service-intentions"
Name = "escapes"
Sources = [{ Name = "a", Action = "allow", Description = "tab\there\nnew line \u00e9" }]
