Kind = "service-intentions"
Name = "inventory"
Sources = [{
  Name = "storefront"
  Permissions = [{
    Action = "allow"
    HTTP = {
      PathExact = "/stock"
      Header = [
        { Name = "X-Tenant", Present = true },
        { Name = "X-Region", Exact = "eu-west-1", IgnoreCase = true },
        { Name = "X-Request-Id", Regex = "[a-f0-9-]{36}" },
        { Name = "X-Debug", Present = true, Invert = true },
      ]
    }
  }]
}]
