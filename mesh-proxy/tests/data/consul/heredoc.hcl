Kind = "service-intentions"
Name = "orders"
Sources = [
  {
    Name   = "checkout"
    Action = "allow"
    Description = <<EOT
Checkout calls orders
  to place them.
EOT
  },
  {
    Name   = "*"
    Action = "deny"
    Description = <<-EOT
      Nobody else.
        Really.
      EOT
  },
]
