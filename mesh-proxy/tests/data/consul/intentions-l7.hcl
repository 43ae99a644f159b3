Kind = "service-intentions"
Name = "inventory"
Sources = [
  {
    Name = "storefront"
    Permissions = [
      {
        Action = "allow"
        HTTP {
          PathPrefix = "/items/"
          Methods    = ["GET", "HEAD"]
        }
      },
      {
        Action = "deny"
        HTTP {
          PathRegex = "/admin(/.*)?"
        }
      },
    ]
  },
]
