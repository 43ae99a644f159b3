# Who may call the orders function: L4 rules only.
Kind = "service-intentions"
Name = "orders"

Sources = [
  {
    Name   = "checkout"
    Action = "allow"
  },
  {
    Name        = "*"
    Action      = "deny"
    Description = "everyone else is refused"
  },
]
