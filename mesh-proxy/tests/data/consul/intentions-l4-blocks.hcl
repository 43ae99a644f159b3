Kind = "service-intentions"
Name = "orders"

# One block per source: HCL 1 collects repeated blocks into a list.
Sources {
  Name   = "checkout"
  Action = "allow"
}

Sources {
  Name   = "reporting"
  Action = "allow"
}

Sources {
  Name   = "*"
  Action = "deny"
}
